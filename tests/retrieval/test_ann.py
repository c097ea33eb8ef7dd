"""FAISS indexes: exact is exact, IVF/HNSW approximate it well, save/load keeps the settings."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.retrieval.ann import VectorIndex
from recsys.retrieval.encoders import l2_normalize


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    return l2_normalize(centres[rng.integers(0, 20, 2000)] + 0.3 * rng.normal(size=(2000, 16)))


def test_exact_matches_brute_force(vectors: np.ndarray) -> None:
    ids = np.arange(2000, dtype=np.int64) * 10 + 7
    index = VectorIndex("exact").build(ids, vectors)
    got, scores = index.search(vectors[:5], 3)
    brute = np.argsort(-(vectors[:5] @ vectors.T), axis=1)[:, :3]
    np.testing.assert_array_equal(got, ids[brute])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_recall_the_exact_neighbours(vectors: np.ndarray, kind: str) -> None:
    ids = np.arange(2000, dtype=np.int64)
    exact, _ = VectorIndex("exact").build(ids, vectors).search(vectors[:200], 10)
    approx, _ = VectorIndex(kind, nprobe=8).build(ids, vectors).search(vectors[:200], 10)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(exact, approx, strict=True)])
    assert recall > 0.9


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_save_load_round_trip_and_determinism(vectors: np.ndarray, kind: str, tmp_path) -> None:
    ids = np.arange(2000, dtype=np.int64)
    index = VectorIndex(kind, nprobe=4).build(ids, vectors)
    again = VectorIndex(kind, nprobe=4).build(ids, vectors)
    index.save(tmp_path, "idx")
    loaded = VectorIndex.load(tmp_path, "idx")
    assert loaded.kind == kind and loaded.nprobe == 4
    for other in (again, loaded):
        pairs = zip(index.search(vectors[:50], 20), other.search(vectors[:50], 20), strict=True)
        for a, b in pairs:
            np.testing.assert_array_equal(a, b)


def test_small_and_empty_searches(vectors: np.ndarray) -> None:
    index = VectorIndex("ivf").build(np.arange(5), vectors[:5])
    ids, scores = index.search(vectors[:2], 10)
    assert ids.shape == (2, 5)
    assert index.search(vectors[:0], 3)[0].shape == (0, 3)
    with pytest.raises(ValueError, match="unknown index kind"):
        VectorIndex("lsh")
