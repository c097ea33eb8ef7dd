"""The ``n`` largest entries of each row of a sparse matrix, without sorting every entry.

Each row's ``n``-th largest value comes from one ``np.partition`` over a dense block of rows of
similar length (rows bucketed by the power of two of their length, so padding at most doubles
the work); an entry is kept if it beats its row's threshold, and ties at the threshold go to
the smaller columns. Linear in the non-zeros, against a full sort of them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def ordered_bits(vals: np.ndarray) -> np.ndarray:
    """uint32 keys whose ascending order is that of the float32 ``vals`` (as their bit patterns
    sort: -0.0 below 0.0, NaNs at the ends)."""
    bits = np.ascontiguousarray(vals, dtype=np.float32).view(np.uint32)
    return np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31))


def row_top(matrix: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of the ``n`` largest values of each row (ties: smaller column first).

    ``matrix`` must hold each (row, col) once (a sparse product does); its columns need not be
    sorted. Entries come out grouped by row, in the matrix's order within a row.
    """
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), counts)
    cols, vals = matrix.indices.astype(np.int64), matrix.data.astype(np.float32)
    if n <= 0:
        return rows[:0], cols[:0], vals[:0]
    if counts.max(initial=0) <= n:
        return rows, cols, vals
    keys = ordered_bits(vals)
    thresholds = row_thresholds(matrix.indptr, keys, n)
    big = counts[rows] > n
    above = keys > thresholds[rows]
    keep = ~big | above
    tied = np.flatnonzero(big & (keys == thresholds[rows]))
    room = n - np.bincount(rows[big & above], minlength=len(counts))
    keep[tied_winners(rows[tied], cols[tied], tied, room)] = True
    return rows[keep], cols[keep], vals[keep]


def row_thresholds(indptr: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """Per row, the ``n``-th largest of its ``keys`` (rows with at most ``n`` entries: 0)."""
    counts = np.diff(indptr)
    out = np.zeros(len(counts), np.uint32)
    big = np.flatnonzero(counts > n)
    bucket = np.ceil(np.log2(counts[big])).astype(np.int64)
    for b in np.unique(bucket):
        members = big[bucket == b]
        width = int(counts[members].max())
        dense = np.zeros((len(members), width), np.uint32)  # padding sorts below every key
        lengths = counts[members]
        slot = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        src = np.repeat(indptr[members], lengths) + slot
        dense[np.repeat(np.arange(len(members)), lengths), slot] = keys[src]
        out[members] = np.partition(dense, width - n, axis=1)[:, width - n]
    return out


def tied_winners(
    rows: np.ndarray, cols: np.ndarray, where: np.ndarray, room: np.ndarray
) -> np.ndarray:
    """Of the entries tied at their row's threshold, the ``room[row]`` with the smallest columns
    (positions from ``where``)."""
    order = np.lexsort((cols, rows))
    r = rows[order]
    starts = np.r_[True, r[1:] != r[:-1]] if len(r) else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(len(r)), 0))
    within = np.arange(len(r)) - first
    return where[order[within < room[r]]]
