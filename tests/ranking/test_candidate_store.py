"""The candidate store: chunks written grouped by customer, read back per customer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.ranking import candidate_store
from recsys.ranking.candidate_store import CandidateStore, CandidateStoreWriter


def candidate_rows(seed: int, customers: np.ndarray) -> pd.DataFrame:
    """A few candidate rows per customer, float32 and integer feature columns."""
    rng = np.random.default_rng(seed)
    cust = np.repeat(customers, rng.integers(1, 6, len(customers)))
    return pd.DataFrame(
        {
            "customer_id": cust.astype(np.int64),
            "article_id": rng.integers(0, 10**9, len(cust)).astype(np.int32),
            "score": rng.random(len(cust)).astype(np.float32),
            "n_sources": rng.integers(1, 4, len(cust)).astype(np.int8),
            "best_source": rng.integers(0, 3, len(cust)).astype(np.float32),
        }
    )


def interleaved(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``frame``'s rows with the customers in a random order (each one's rows in theirs)."""
    rng = np.random.default_rng(seed)
    first = rng.permutation(len(frame))  # a row per customer decides where the customer goes
    spot = pd.Series(first).groupby(frame["customer_id"].to_numpy()).transform("min")
    return frame.iloc[np.argsort(spot.to_numpy(), kind="stable")]


def written(path: Path, chunks: list[pd.DataFrame]) -> dict[str, bytes]:
    """Every file of the store written from ``chunks``, by name."""
    writer = CandidateStoreWriter(path)
    for chunk in chunks:
        writer.append(chunk)
    folder = writer.close({"cutoff": "2020-09-16"})
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.mark.parametrize("rows_at_a_time", [candidate_store.WRITE_ROWS, 7])
def test_grouped_or_shuffled_chunks_write_the_same_store(
    rows_at_a_time: int, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(candidate_store, "WRITE_ROWS", rows_at_a_time)  # blocks of rows
    chunks = [candidate_rows(0, np.arange(0, 40) * 3 - 50), candidate_rows(1, np.arange(90, 130))]
    shuffled = [interleaved(c, seed) for seed, c in enumerate(chunks)]
    assert not shuffled[0]["customer_id"].is_monotonic_increasing
    files = written(tmp_path / "grouped", chunks)
    assert written(tmp_path / "shuffled", shuffled) == files
    store = CandidateStore.open(tmp_path / "grouped")
    assert store.columns == ["score", "n_sources", "best_source"]
    both = pd.concat(chunks, ignore_index=True)
    for cid in (-50, 7, 129):
        want = both[both["customer_id"] == cid].reset_index(drop=True)
        got = store.frame(cid)
        pd.testing.assert_frame_equal(got, want.astype({"n_sources": np.float32}))
    assert len(store.frame(-49)) == 0
    with pytest.raises(ValueError, match="ascending"):
        written(tmp_path / "backwards", chunks[::-1])


def test_the_ranker_scores_are_kept_apart_in_double_precision(tmp_path: Path) -> None:
    chunks = [candidate_rows(0, np.arange(0, 30)), candidate_rows(1, np.arange(40, 70))]
    scored = [c.assign(ranker_score=np.linspace(-1, 1, len(c)) + 1e-12) for c in chunks]
    writer = CandidateStoreWriter(tmp_path / "store")
    for chunk in scored:
        writer.append(chunk)
    store = CandidateStore.open(writer.close({"cutoff": "2020-09-16"}))
    assert store.columns == ["score", "n_sources", "best_source"]  # the union's score: a feature
    assert store.scores is not None and store.scores.dtype == np.float64
    want = pd.concat(scored, ignore_index=True)["ranker_score"].to_numpy()
    assert np.array_equal(np.asarray(store.scores), want)
    assert "scores.bin" not in written(tmp_path / "plain", chunks)
    assert CandidateStore.open(tmp_path / "plain").scores is None


def test_chunks_with_and_without_scores_are_refused(tmp_path: Path) -> None:
    first = candidate_rows(0, np.arange(0, 10))
    writer = CandidateStoreWriter(tmp_path / "store")
    writer.append(first.assign(ranker_score=0.5))
    with pytest.raises(ValueError, match="every candidate chunk has scores or none"):
        writer.append(candidate_rows(1, np.arange(20, 30)))


def test_pruning_keeps_only_the_stores_asked_for(tmp_path: Path) -> None:
    root = tmp_path / "candidates"
    for key in ("aaaa", "bbbb", "cccc"):
        written(root / key, [candidate_rows(0, np.arange(0, 5))])
        written(root / key, [candidate_rows(1, np.arange(0, 5))])  # a second version beside
    (root / "cccc.tmp-123-abcd").mkdir()  # what a killed writer left
    before = CandidateStore.open(root / "bbbb").articles.copy()
    assert candidate_store.prune_stores(root, {"bbbb"}) == ["aaaa", "cccc"]
    assert {p.name.split("@")[0] for p in root.iterdir()} == {"bbbb"}
    assert np.array_equal(CandidateStore.open(root / "bbbb").articles, before)
    assert candidate_store.prune_stores(tmp_path / "none", {"bbbb"}) == []


def test_rows_read_from_the_files_equal_the_mapped_ones(tmp_path: Path) -> None:
    chunks = [candidate_rows(0, np.arange(0, 30)), candidate_rows(1, np.arange(40, 70))]
    writer = CandidateStoreWriter(tmp_path / "store")
    for chunk in chunks:
        writer.append(chunk.assign(ranker_score=np.arange(len(chunk)) / 7))
    store = CandidateStore.open(writer.close())
    for r0, r1 in ((0, 0), (0, 5), (17, store.meta["rows"]), (3, 4)):
        articles, values, scores = store.read(r0, r1)
        assert np.array_equal(articles, store.articles[r0:r1])
        assert np.array_equal(values, store.values[r0:r1], equal_nan=True)
        assert scores is not None and np.array_equal(scores, store.scores[r0:r1])
    _, _, none = dataclasses.replace(store, scores=None).read(0, 5)
    assert none is None
