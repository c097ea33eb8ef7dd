"""Candidate weeks: labels come from the target week only; features only from before the cutoff."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from recsys import schema
from recsys.data.lake import Lake
from recsys.ranking.dataset import candidate_week
from recsys.ranking.features import add_snapshot_features, add_store_features
from recsys.ranking.sampling import LABEL
from recsys.retrieval.sources import parse_sources
from tests.tamper import tamper_after

SPECS = parse_sources(
    [
        {"kind": "repurchase", "quota": 20},
        {"kind": "cooccurrence", "quota": 20},
        {"kind": "popularity", "quota": 20, "name": "popular_age", "mode": "age_bucket"},
    ]
)


@pytest.fixture(scope="module")
def week(published_home: Path, cutoff: dt.date):
    return candidate_week(Lake(published_home / "lake"), cutoff, SPECS, 50)


def test_labels_are_the_target_week_purchases(week) -> None:
    bought = week.truth.assign(hit=1)
    joined = week.frame.merge(bought, on=[schema.CUSTOMER_ID, schema.ARTICLE_ID], how="left")
    assert (joined[LABEL] == joined["hit"].fillna(0)).all()
    assert set(week.frame[schema.CUSTOMER_ID]) <= set(week.truth[schema.CUSTOMER_ID])
    assert week.frame[LABEL].sum() > 0


def test_nothing_after_the_target_week_changes_the_week(
    week, published_home: Path, cutoff: dt.date, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(published_home, copy)
    tamper_after(copy / "lake", cutoff + dt.timedelta(days=7))
    again = candidate_week(Lake(copy / "lake"), cutoff, SPECS, 50)
    pd.testing.assert_frame_equal(week.frame, again.frame)


def test_target_week_purchases_change_labels_only(
    week, published_home: Path, cutoff: dt.date, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(published_home, copy)
    tamper_after(copy / "lake", cutoff)
    again = candidate_week(Lake(copy / "lake"), cutoff, SPECS, 50)
    keys = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    both = week.frame.merge(again.frame, on=keys, suffixes=("", "_t"))
    assert len(both) > 0.5 * len(week.frame)  # the same customers that still buy get the same pairs
    features = [c for c in week.frame.columns if c not in (*keys, LABEL)]
    for col in features:
        pd.testing.assert_series_equal(both[col], both[f"{col}_t"], check_names=False)


def test_feast_point_in_time_equals_the_snapshot(settings, cutoff: dt.date) -> None:
    from recsys.features import store
    from recsys.features.snapshots import build_snapshots

    lake = Lake(settings.paths.lake)
    build_snapshots(lake, [cutoff], settings.paths.features, progress=False)
    store.apply(settings)
    frame = candidate_week(lake, cutoff, SPECS, 20).frame
    via_feast = add_store_features(settings, frame)
    via_file = add_snapshot_features(settings, frame.drop(columns=[]), cutoff)
    pd.testing.assert_frame_equal(via_feast, via_file[via_feast.columns], check_dtype=False)
