"""Candidate order: the fast paths give what a 3-key lexsort gives."""

from __future__ import annotations

import numpy as np

from recsys import schema
from recsys.retrieval.base import candidate_order, top_k


def lexsorted(c: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.lexsort((a, -s, c))


def test_candidate_order_on_grouped_and_presorted_rows() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    c = np.repeat(rng.choice(10**12, 200, replace=False), n // 200).astype(np.int64)
    c.sort()
    s = rng.choice(np.array([0.0, 0.25, 0.5, 1.0], np.float32), n)  # heavy ties
    a = rng.integers(0, 300, n).astype(np.int32)
    grouped_random = (c, s, a)
    o = np.lexsort((-a, -s, c))  # customer and score in order, tied articles reversed
    ties_reversed = (c[o], s[o], a[o])
    for cc, ss, aa in (grouped_random, ties_reversed):
        got = candidate_order(cc, ss, aa)
        expected = lexsorted(cc, ss, aa)
        assert got is not None
        assert np.array_equal(cc[got], cc[expected]) and np.array_equal(aa[got], aa[expected])
        assert np.array_equal(ss[got], ss[expected])
    e = lexsorted(c, s, a)
    assert candidate_order(c[e], s[e], a[e]) is None


def test_candidate_order_is_stable_for_repeated_rows() -> None:
    c = np.array([2, 1, 2, 1, 2], np.int64)
    s = np.array([1.0, 1.0, 1.0, 1.0, 1.0], np.float32)
    a = np.array([5, 5, 5, 4, 5], np.int32)
    assert candidate_order(c, s, a).tolist() == [3, 1, 0, 2, 4]


def test_top_k_keeps_k_per_customer_in_order() -> None:
    c = np.array([3, 3, 3, 1, 1], np.int64)
    a = np.array([10, 11, 12, 10, 11], np.int32)
    s = np.array([0.5, 0.9, 0.5, 0.1, 0.2], np.float32)
    out = top_k(c, a, s, 2)
    assert out[schema.CUSTOMER_ID].tolist() == [1, 1, 3, 3]
    assert out[schema.ARTICLE_ID].tolist() == [11, 10, 11, 10]
    assert np.array_equal(out[schema.SCORE], np.array([0.2, 0.1, 0.9, 0.5], np.float32))
