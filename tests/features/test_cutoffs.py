"""Cutoffs: Wednesdays, the newest right after the last Tuesday-closed week."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs, last_closed_tuesday, window_start
from tests.conftest import make_settings


def test_default_cutoffs_on_the_tiny_world(published_home: Path) -> None:
    lake = Lake(make_settings(published_home).paths.lake)
    assert lake.manifest()["last_date"] == "2020-09-22"
    assert default_cutoffs(lake, 1) == [dt.date(2020, 9, 23)]
    cutoffs = default_cutoffs(lake, 3)
    assert cutoffs == [dt.date(2020, 9, 9), dt.date(2020, 9, 16), dt.date(2020, 9, 23)]
    assert all(c.weekday() == 2 for c in cutoffs)  # Wednesdays
    with pytest.raises(ValueError):
        default_cutoffs(lake, 0)


def test_last_closed_tuesday() -> None:
    assert last_closed_tuesday(dt.date(2020, 9, 22)) == dt.date(2020, 9, 22)
    assert last_closed_tuesday(dt.date(2020, 9, 19)) == dt.date(2020, 9, 15)
    assert last_closed_tuesday(dt.date(2020, 9, 21)) == dt.date(2020, 9, 15)


def test_window_start() -> None:
    assert window_start(dt.date(2020, 9, 23), 7) == dt.date(2020, 9, 16)
    assert window_start(dt.date(2020, 9, 23), None) is None
