"""The per-round MAP@12 equals the sorting reference bit for bit, ties and empty groups included."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.ranking.ranker import grouped_map
from recsys.ranking.stopping import GroupedMap


def week(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Labels and contiguous groups of uneven sizes (some without hits), truth sizes, buyers."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 60, size=400)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    labels = (rng.random(len(groups)) < 0.08).astype(np.int8)
    hits = np.bincount(groups, weights=labels, minlength=len(sizes))
    n_true = hits + rng.integers(0, 3, size=len(sizes))  # some purchases were never candidates
    return labels, groups, n_true.astype(np.float64), len(sizes) + 25


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("levels", [None, 3, 1])  # continuous scores, many ties, all tied
def test_grouped_map_per_round_equals_the_reference(seed: int, levels: int | None) -> None:
    labels, groups, n_true, buyers = week(seed)
    metric = GroupedMap.prepare(labels, groups, n_true, buyers)
    rng = np.random.default_rng(seed + 10)
    for _ in range(5):
        preds = rng.normal(size=len(labels)) + 2.0 * labels
        if levels is not None:
            preds = np.floor(preds * levels / 4) if levels > 1 else np.zeros_like(preds)
        assert metric(preds) == grouped_map(preds, labels, groups, n_true, buyers)


def test_perfect_and_no_hits() -> None:
    labels, groups, n_true, buyers = week(3)
    metric = GroupedMap.prepare(labels, groups, n_true, buyers)
    perfect = metric(labels.astype(np.float64))
    assert perfect == grouped_map(labels.astype(np.float64), labels, groups, n_true, buyers)
    assert 0 < perfect < 1
    none = GroupedMap.prepare(np.zeros_like(labels), groups, n_true, buyers)
    assert none(np.ones(len(labels))) == 0.0
