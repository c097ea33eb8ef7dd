"""A served home: one run of the weekly loop on the tiny world (champion v1, its candidates, the
newest snapshots materialized into the SQLite online store, the answers ranked ahead)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recsys.settings import Settings

REDIS = "127.0.0.1:6379,db=14"


@pytest.fixture(scope="session")
def served(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None
) -> Settings:
    """Settings of a home ready to serve (the submission is ``HOME/submissions/<cutoff>.csv``)."""
    from flows.weekly import weekly_retrain
    from tests.flows.conftest import SOURCES, tiny_run_settings

    home = tmp_path_factory.mktemp("served") / "home"
    shutil.copytree(published_home, home)
    settings = tiny_run_settings(home)
    weekly_retrain(sources=SOURCES, settings=settings)
    return settings
