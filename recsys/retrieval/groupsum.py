"""Sums per key in numpy, equal bit for bit to pandas' ``groupby(...).sum()``.

pandas sums each group in row order with Kahan compensation, in the values' own dtype (float32
stays float32). :func:`group_sums` does the same arithmetic, vectorised across groups: one step
per position within a group (as many steps as the largest group has rows), not one per row.
"""

from __future__ import annotations

import numpy as np


def group_sums(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique ``keys``, the sum of ``values`` per key), as pandas computes it."""
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if len(k) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(k)])
    group = np.repeat(np.arange(len(starts)), sizes)
    within = np.arange(len(k)) - np.repeat(starts, sizes)
    return k[starts], kahan_sums(group, within, v, len(starts))


def kahan_sums(group: np.ndarray, within: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per group, the Kahan-compensated sum of its ``values`` taken in ``within`` order (0, 1,
    ...; every group's positions run from 0 without gaps)."""
    total = np.zeros(n, values.dtype)
    compensation = np.zeros(n, values.dtype)
    if len(values) == 0:
        return total
    narrow = within.astype(np.uint16) if within.max() < 2**16 else within  # radix-sorted
    by_step = np.argsort(narrow, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(within))]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        rows = by_step[lo:hi]
        g, val = group[rows], values[rows]
        y = val - compensation[g]
        t = total[g] + y
        c = (t - total[g]) - y
        compensation[g] = np.where(np.isnan(c), 0, c)  # an infinite value: keep the infinity
        total[g] = t
    return total
