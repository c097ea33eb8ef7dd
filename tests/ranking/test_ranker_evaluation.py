"""Evaluation on a stored validation week: lists kept from the candidates stage, short history."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.data.lake import Lake
from recsys.ranking.dataset import (
    CandidateWeek,
    candidate_week,
    load_week,
    save_week,
    union_columns,
)
from recsys.ranking.evaluate import Evaluation, evaluate_ranker, history_weeks
from recsys.ranking.interactions import feature_names
from recsys.ranking.member_lists import FILE
from recsys.ranking.ranker import Ranker, RankerConfig
from recsys.ranking.train import train_ranker
from recsys.retrieval.sources import DEFAULT_SOURCES

K = 200
ACTIVE_WEEKS = 2


@pytest.fixture(scope="module")
def stored(tiny_lake: Lake, cutoff: dt.date, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The week's 200 candidates and every default source's own top 200, saved."""
    week = candidate_week(tiny_lake, cutoff, DEFAULT_SOURCES, K, keep=K)
    return save_week(week, tmp_path_factory.mktemp("valid_week") / "week")


@pytest.fixture(scope="module")
def ranker(stored: Path, tiny_lake: Lake, cutoff: dt.date) -> Ranker:
    week = load_week(tiny_lake, cutoff, stored)
    features = [*union_columns(week.union.source_names), *feature_names()]
    config = RankerConfig(n_estimators=20, early_stopping_rounds=5, threads=1)
    return train_ranker(week.frame, week.frame, week.truth, features, config)


def evaluate(week: CandidateWeek, ranker: Ranker) -> Evaluation:
    return evaluate_ranker(week, ranker, K, ACTIVE_WEEKS, ranker)


def test_kept_lists_are_each_source_own_fresh_list(
    stored: Path, tiny_lake: Lake, cutoff: dt.date
) -> None:
    week = load_week(tiny_lake, cutoff, stored)
    assert week.sources is not None and week.sources.k == K
    kept = week.sources.cut(K)
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    assert list(kept) == week.union.source_names
    for name, member in week.union.members.items():
        pd.testing.assert_frame_equal(kept[name], member.retrieve(buyers, K))


def test_evaluation_from_kept_lists_and_short_history_equals_a_fresh_one(
    stored: Path, tiny_lake: Lake, cutoff: dt.date, ranker: Ranker, tmp_path: Path
) -> None:
    older = tmp_path / "older"  # a week stored before the lists were kept
    shutil.copytree(stored, older)
    (older / FILE).unlink()
    fresh = load_week(tiny_lake, cutoff, older)
    assert fresh.sources is None
    short = load_week(tiny_lake, cutoff, stored, history_weeks(ACTIVE_WEEKS))
    assert len(short.history.transactions) < len(fresh.history.transactions)
    got, expected = evaluate(short, ranker), evaluate(fresh, ranker)
    pd.testing.assert_frame_equal(got.comparison, expected.comparison)
    pd.testing.assert_frame_equal(got.sources, expected.sources)
    pd.testing.assert_frame_equal(got.segments, expected.segments)
    pd.testing.assert_frame_equal(got.binary, expected.binary)
    assert got.recall == expected.recall
    assert np.isfinite(got.sources.to_numpy()).all() and "union" in got.sources.index


def test_history_weeks_cover_every_window_evaluation_reads() -> None:
    assert history_weeks(None) == 4  # the repurchase baseline's 28 days
    assert history_weeks(2) == 4
    assert history_weeks(12) == 12


def test_the_default_union_survives_a_trip_to_a_cluster_worker(
    stored: Path, tiny_lake: Lake, cutoff: dt.date
) -> None:
    from distributed.protocol import pickle as dask_pickle

    week = load_week(tiny_lake, cutoff, stored)
    copy = dask_pickle.loads(dask_pickle.dumps(week.union))  # as Client.scatter ships it
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    pd.testing.assert_frame_equal(copy.retrieve(buyers, K), week.union.retrieve(buyers, K))
