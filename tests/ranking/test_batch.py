"""Batch ranking: store features placed from the snapshot's blocks rank exactly as its frame."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.data.lake import Lake
from recsys.parallel import Parallel
from recsys.ranking.baselines import popular_list
from recsys.ranking.batch import batch_recommendations, rank_customers
from recsys.ranking.dataset import CandidateWeek, candidate_week, candidates
from recsys.ranking.features import SnapshotFeatures, store_feature_names
from recsys.ranking.package import RecommenderPackage
from recsys.ranking.ranker import RankerConfig, matrix
from recsys.ranking.rows import file_cutoff, stack_files
from recsys.ranking.sampling import LABEL
from recsys.ranking.train import model_features, train_ranker
from recsys.retrieval.history import History
from recsys.retrieval.sources import parse_sources
from tests.conftest import make_settings

SPECS = parse_sources(
    [
        {"kind": "repurchase", "quota": 20},
        {"kind": "cooccurrence", "quota": 20},
        {"kind": "popularity", "quota": 20, "name": "popular_age", "mode": "age_bucket"},
    ]
)
UNKNOWN = 123456789  # a customer in no snapshot


@pytest.fixture(scope="module")
def ranked(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, cutoff: dt.date
) -> tuple[RecommenderPackage, History, SnapshotFeatures]:
    """A package ranking with the tiny world's snapshot of ``cutoff``, its history and reader."""
    from recsys.features.snapshots import build_snapshots

    home = tmp_path_factory.mktemp("batch") / "home"
    shutil.copytree(published_home, home)
    settings = make_settings(home)
    lake = Lake(settings.paths.lake)
    build_snapshots(lake, [cutoff], settings.paths.features, progress=False)
    week = candidate_week(lake, cutoff, SPECS, 30)
    reader = SnapshotFeatures(settings, cutoff)
    frame = reader(week.frame)
    config = RankerConfig(n_estimators=40, early_stopping_rounds=40, min_data_in_leaf=5, threads=1)
    features = model_features(week.union.source_names)
    ranker = train_ranker(frame, frame, week.truth, features, config)
    package = RecommenderPackage(week.union, ranker, popular_list(week.history))
    return package, week.history, reader


def as_frame(reader: SnapshotFeatures):
    """``reader`` as a plain frame-to-frame reader (the batch then scores its frame)."""
    return lambda rows: reader(rows)


def test_the_ranker_reads_store_features_strings_included(ranked) -> None:
    package, _, _ = ranked
    store = [*store_feature_names()["customer"], *store_feature_names()["article"]]
    assert package.ranker.importance()[store].sum() > 0
    assert package.ranker.vocab and set(package.ranker.vocab) <= set(store)


def test_blocks_give_the_matrix_of_the_frame_bit_for_bit(ranked) -> None:
    package, history, reader = ranked
    ranker = package.ranker
    customers = np.r_[history.transactions[schema.CUSTOMER_ID].unique()[:80], UNKNOWN]
    rows = candidates(history, package.union, customers, 30)
    rows.loc[rows.index[:5], schema.ARTICLE_ID] = 999_999_999  # an article in no snapshot
    got = matrix(rows, ranker.features, ranker.vocab, reader.blocks(ranker.features, ranker.vocab))
    want = matrix(reader(rows), ranker.features, ranker.vocab)
    assert np.isnan(got[-1]).any() and np.isnan(got[:5]).any()
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_ranking_with_blocks_equals_ranking_the_frame(ranked) -> None:
    package, history, reader = ranked
    customers = np.r_[history.transactions[schema.CUSTOMER_ID].unique()[:150], UNKNOWN]
    kept: dict[str, list[pd.DataFrame]] = {"blocks": [], "frame": []}
    got = rank_customers(package, customers, history, reader, sink=kept["blocks"].append)
    want = rank_customers(package, customers, history, as_frame(reader), sink=kept["frame"].append)
    assert got[schema.SCORE].notna().sum() > len(customers)  # the ranker scored most rows
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    pd.testing.assert_frame_equal(kept["blocks"][0], kept["frame"][0], check_exact=True)


def test_the_batch_in_forked_workers_with_blocks_equals_the_frame_s_batch(ranked) -> None:
    package, history, reader = ranked
    customers = np.r_[np.unique(history.transactions[schema.CUSTOMER_ID]), UNKNOWN]
    rows: dict[str, list[pd.DataFrame]] = {"blocks": [], "frame": []}
    options = (30, 97, None)
    got = batch_recommendations(
        package, customers, history, reader, options, sink=rows["blocks"].append, workers=2
    )
    want = batch_recommendations(
        package, customers, history, as_frame(reader), options, sink=rows["frame"].append
    )
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(rows["blocks"]) == len(rows["frame"]) > 2
    for forked, here in zip(rows["blocks"], rows["frame"], strict=True):
        pd.testing.assert_frame_equal(forked, here, check_exact=True)


def test_a_week_saved_without_store_features_stacks_and_scores_as_one_with_them(
    ranked, tmp_path: Path
) -> None:
    package, history, reader = ranked
    ranker = package.ranker
    customers = np.r_[history.transactions[schema.CUSTOMER_ID].unique()[:120], UNKNOWN]
    bare = candidates(history, package.union, customers, 30).sample(frac=1.0, random_state=3)
    bare[LABEL] = (np.arange(len(bare)) % 7 == 0).astype(np.int8)
    paths = {"bare": tmp_path / "bare.parquet", "joined": tmp_path / "joined.parquet"}
    bare.to_parquet(paths["bare"], index=False)
    reader(bare).to_parquet(paths["joined"], index=False)
    features, vocab = ranker.features, ranker.vocab
    got, groups = stack_files([paths["bare"]], features, vocab, reader.blocks(features, vocab))
    want, expected = stack_files([paths["joined"]], features, vocab)
    assert file_cutoff(paths["bare"]) == history.cutoff
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    for name in ("labels", "sizes", "customers"):
        np.testing.assert_array_equal(getattr(groups, name), getattr(expected, name))
    week = CandidateWeek(history.cutoff, bare, bare.iloc[:0], package.union, history)
    joined = week.score(ranker)
    week.frame, week.store = bare, reader
    np.testing.assert_array_equal(week.score(ranker), ranker.score(reader(bare)))
    assert not np.array_equal(joined, week.score(ranker))  # without the store: other scores


def test_the_batch_on_a_dask_cluster_equals_the_batch_here(ranked, cluster) -> None:
    package, history, reader = ranked
    customers = np.r_[np.unique(history.transactions[schema.CUSTOMER_ID]), UNKNOWN]
    rows: dict[str, list[pd.DataFrame]] = {"cluster": [], "here": []}
    options = (30, 97, None)
    got = batch_recommendations(
        package,
        customers,
        history,
        reader,
        options,
        sink=rows["cluster"].append,
        workers=Parallel(client=cluster),
    )
    want = batch_recommendations(
        package, customers, history, reader, options, sink=rows["here"].append
    )
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(rows["cluster"]) == len(rows["here"]) > 2
    for remote, here in zip(rows["cluster"], rows["here"], strict=True):
        pd.testing.assert_frame_equal(remote, here, check_exact=True)


def test_a_worker_killed_mid_batch_is_replaced_and_the_batch_is_the_same(ranked, cluster) -> None:
    import os
    import signal

    package, history, reader = ranked
    customers = np.unique(history.transactions[schema.CUSTOMER_ID])
    options = (30, 23, None)
    pids = cluster.run(os.getpid)
    killed: list[int] = []

    def kill_one_worker(_rows: pd.DataFrame) -> None:
        if not killed:  # after the first chunk is back, others are in flight on both workers
            killed.append(pids[sorted(pids)[0]])
            os.kill(killed[0], signal.SIGKILL)

    got = batch_recommendations(
        package,
        customers,
        history,
        reader,
        options,
        sink=kill_one_worker,
        workers=Parallel(client=cluster),
    )
    want = batch_recommendations(package, customers, history, reader, options)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    cluster.wait_for_workers(2, timeout=60)
    assert killed and killed[0] not in cluster.run(os.getpid).values()


@pytest.mark.parametrize("keep", [None, 30])
def test_a_candidate_week_in_chunks_on_a_cluster_equals_the_week_in_one_piece(
    tiny_lake: Lake, cutoff: dt.date, cluster, keep
) -> None:
    whole = candidate_week(tiny_lake, cutoff, SPECS, 30, keep=keep)
    on_cluster = (Parallel(client=cluster), 47)
    chunked = candidate_week(tiny_lake, cutoff, SPECS, 30, keep=keep, chunks=on_cluster)
    assert whole.frame[schema.CUSTOMER_ID].nunique() > 3 * 47  # several chunks
    pd.testing.assert_frame_equal(chunked.frame, whole.frame, check_exact=True)
    if keep is None:
        assert chunked.sources is None and whole.sources is None
        return
    assert list(chunked.sources.lists) == list(whole.sources.lists)
    for name, frame in whole.sources.lists.items():
        pd.testing.assert_frame_equal(chunked.sources.lists[name], frame, check_exact=True)
