"""Per-row top-n of a sparse matrix: the same entries as sorting every row."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.retrieval.rowtop import row_top


def by_sorting(matrix: sp.csr_matrix, n: int) -> set[tuple[int, int, float]]:
    """Reference: each row sorted by value descending then column, first ``n`` kept."""
    out = set()
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        entries = zip(matrix.indices[lo:hi], matrix.data[lo:hi], strict=True)
        entries = sorted(entries, key=lambda e: (-e[1], e[0]))
        out |= {(r, int(c), float(v)) for c, v in entries[:n]}
    return out


def shuffled_rows(matrix: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
    """The same matrix with the columns of each row stored out of order."""
    matrix = matrix.copy()
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        order = lo + rng.permutation(hi - lo)
        matrix.indices[lo:hi], matrix.data[lo:hi] = matrix.indices[order], matrix.data[order]
    matrix.has_sorted_indices = False
    return matrix


def test_row_top_keeps_the_largest_and_breaks_ties_by_column() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        shape = (int(rng.integers(1, 25)), int(rng.integers(1, 40)))
        matrix = sp.random(*shape, density=rng.random(), format="csr", rng=rng, dtype=np.float32)
        values = np.array([0.0, 0.5, 1.0, 1.0, 2.0, 3.5], np.float32)  # many ties
        matrix.data = rng.choice(values, len(matrix.data))
        matrix = shuffled_rows(matrix, rng)
        for n in (1, 2, 3, 7, 100):
            rows, cols, vals = row_top(matrix, n)
            got = {(int(r), int(c), float(v)) for r, c, v in zip(rows, cols, vals, strict=True)}
            assert len(got) == len(rows)
            assert got == by_sorting(matrix, n)
            assert np.all(np.diff(rows) >= 0)  # grouped by row


def test_row_top_of_nothing() -> None:
    matrix = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]], np.float32))
    assert all(len(part) == 0 for part in row_top(matrix, 0))
    empty = sp.csr_matrix((3, 4), dtype=np.float32)
    assert all(len(part) == 0 for part in row_top(empty, 5))
