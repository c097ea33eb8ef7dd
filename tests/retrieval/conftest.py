"""Retrieval fixtures: the tiny lake seen from one cutoff, with the following week held out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs
from recsys.retrieval.history import History, load_history, target_week


@pytest.fixture(scope="session")
def tiny_lake(published_home: Path) -> Lake:
    """The session's tiny lake (read only)."""
    return Lake(published_home / "lake")


@pytest.fixture(scope="session")
def cutoff(tiny_lake: Lake) -> dt.date:
    """The cutoff whose following week is the last complete week of the tiny world."""
    return default_cutoffs(tiny_lake, 2)[0]


@pytest.fixture(scope="session")
def history(tiny_lake: Lake, cutoff: dt.date) -> History:
    """Everything before ``cutoff`` (do not mutate)."""
    return load_history(tiny_lake, cutoff)


@pytest.fixture(scope="session")
def held_out(tiny_lake: Lake, cutoff: dt.date):
    """Unique (customer_id, article_id) bought in the week from ``cutoff``."""
    return target_week(tiny_lake, cutoff)
