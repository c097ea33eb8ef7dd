"""A served home: the tiny world's pipeline run (champion v1, precomputed candidates) and its
newest snapshots materialized into the SQLite online store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recsys.settings import Settings
from tests.conftest import make_settings

SOURCES = [
    {"kind": "repurchase", "quota": 30},
    {"kind": "siblings", "quota": 20},
    {"kind": "itemcf", "quota": 30},
    {"kind": "popularity", "quota": 30, "name": "popular_age", "mode": "age_bucket"},
]
REDIS = "127.0.0.1:6379,db=14"


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, published_home: Path) -> Settings:
    """Settings of a home ready to serve (the submission is at ``HOME/../submission.csv``)."""
    from recsys.features import store
    from recsys.pipeline import run_pipeline
    from recsys.ranking.package import RecommenderPackage
    from recsys.registry import CHAMPION, download_package
    from recsys.retrieval.sources import parse_sources

    home = tmp_path_factory.mktemp("served") / "home"
    shutil.copytree(published_home, home)
    settings = make_settings(home, train_weeks=2, candidates=60, threads=1)
    out = home.parent / "submission.csv"
    run_pipeline(settings, None, out, parse_sources(SOURCES), progress=False)
    cutoff = RecommenderPackage.load(download_package(settings, CHAMPION)).cutoff
    store.apply(settings)
    store.materialize(settings, cutoff, progress=False)
    return settings
