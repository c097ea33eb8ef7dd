"""One Prefect test server per session (it takes seconds to start), and a flow-ready home."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recsys.settings import Settings
from tests.conftest import make_settings

TINY_RUN = {"train_weeks": 2, "candidates": 60, "threads": 1}
SOURCES = [
    {"kind": "repurchase", "quota": 30},
    {"kind": "siblings", "quota": 20},
    {"kind": "itemcf", "quota": 30},
    {"kind": "popularity", "quota": 30, "name": "popular_age", "mode": "age_bucket"},
]


def tiny_run_settings(home: Path, **overrides: object) -> Settings:
    """Settings of a small, fast run of the loop rooted at ``home``."""
    return make_settings(home, **{**TINY_RUN, **overrides})


@pytest.fixture(scope="module")
def flow_settings(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None
) -> Settings:
    """Settings of a private copy of the tiny home (the flows get them as a parameter)."""
    home = tmp_path_factory.mktemp("flows") / "home"
    shutil.copytree(published_home, home)
    return tiny_run_settings(home)
