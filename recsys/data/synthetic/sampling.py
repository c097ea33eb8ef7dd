"""Vectorised sampling helpers shared by the catalogue, customer and transaction generators."""

from __future__ import annotations

import numpy as np


def segment_cumsum(weights: np.ndarray) -> np.ndarray:
    """Cumulative sum with a leading zero (``C[i]`` = sum of ``weights[:i]``), in float64."""
    out = np.zeros(len(weights) + 1)
    np.cumsum(weights, out=out[1:])
    return out


def sample_in_segments(
    cum: np.ndarray, offsets: np.ndarray, segment: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """For each draw, an index in ``[offsets[s], offsets[s+1])`` chosen by weight.

    ``cum`` is :func:`segment_cumsum` of the flat weights, ``segment`` the segment of each draw and
    ``u`` uniform numbers in [0, 1). Segments with zero total weight return their first index.
    """
    lo, hi = offsets[segment], offsets[segment + 1]
    target = cum[lo] + u * (cum[hi] - cum[lo])
    idx = np.searchsorted(cum, target, side="right") - 1
    return np.clip(idx, lo, np.maximum(hi - 1, lo))


def categorical(p: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws from the (unnormalised) probability vector ``p``."""
    cum = np.cumsum(p, dtype=float)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(p) - 1)


def row_categorical(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One draw per row of the (unnormalised) 2-D probability matrix ``p``, from uniforms ``u``."""
    cum = np.cumsum(p, axis=1)
    return np.minimum((cum < (u * cum[:, -1])[:, None]).sum(axis=1), p.shape[1] - 1)


def pick_in_groups(sorted_keys: np.ndarray, query: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A uniform random position among ``sorted_keys == query`` per query, or -1 if none."""
    lo = np.searchsorted(sorted_keys, query, side="left")
    hi = np.searchsorted(sorted_keys, query, side="right")
    pos = lo + np.floor(u * (hi - lo)).astype(np.int64)
    return np.where(hi > lo, np.minimum(pos, hi - 1), -1)


def group_rank(group: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal, contiguous ``group`` values."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)
