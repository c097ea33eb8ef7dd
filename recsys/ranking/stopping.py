"""Kaggle MAP@12 of grouped predictions, prepared once and evaluated every boosting round.

Only the bought rows count: a group's average precision needs the rank of each of its hits,
and a hit's rank is one plus the number of rows of its group scored higher (ties: the earlier
row first, as a stable sort orders them). So the layout (each hit's group as a padded row of
indices) is built once, and a round costs one gather and compare over hits x group size, not
a sort of every validation row. The value equals :func:`recsys.ranking.ranker.grouped_map`'s
bit for bit (same terms, summed in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.evaluation.metrics import truth_sizes
from recsys.schema import K


@dataclass
class GroupedMap:
    """MAP@12 over fixed groups and labels for any vector of predictions (see module doc)."""

    members: np.ndarray  # (hits, widest group) row indices of each hit's group; pad = n_rows
    earlier: np.ndarray  # (hits, widest group) True where that member precedes the hit
    hit_rows: np.ndarray  # row index of each hit, grouped by group
    hit_groups: np.ndarray  # group of each hit
    weights: np.ndarray  # label of each hit (float64)
    denominator: np.ndarray  # per group min(articles bought, K)
    n_buyers: int

    @classmethod
    def prepare(
        cls, labels: np.ndarray, groups: np.ndarray, n_true: np.ndarray, n_buyers: int
    ) -> GroupedMap:
        """The layout for ``labels`` of rows in contiguous ``groups`` (0-based, ascending)."""
        labels, groups = np.asarray(labels), np.asarray(groups, np.int64)
        starts = np.searchsorted(groups, np.arange(len(n_true) + 1))
        hit_rows = np.flatnonzero(labels > 0)
        hit_groups = groups[hit_rows]
        width = int(np.diff(starts).max(initial=0))
        offsets = np.arange(width)
        members = starts[hit_groups][:, None] + offsets
        members = np.where(members < starts[hit_groups + 1][:, None], members, len(labels))
        return cls(
            members,
            members < hit_rows[:, None],
            hit_rows,
            hit_groups,
            labels[hit_rows].astype(np.float64),
            np.minimum(np.asarray(n_true, np.float64), K),
            n_buyers,
        )

    def ranks(self, preds: np.ndarray) -> np.ndarray:
        """The 1-based rank of each hit within its group under ``preds`` (stable ties)."""
        padded = np.append(np.asarray(preds, np.float64), -np.inf)
        scores = padded[self.members]
        own = padded[self.hit_rows][:, None]
        ahead = (scores > own) | ((scores == own) & self.earlier)
        return 1 + ahead.sum(axis=1)

    def __call__(self, preds: np.ndarray) -> float:
        """MAP@12 of ``preds`` (one score per row of the prepared groups)."""
        rank = self.ranks(preds)
        order = np.lexsort((rank, self.hit_groups))
        g, rank, hit = self.hit_groups[order], rank[order], self.weights[order]
        keep = rank <= K
        g, rank, hit = g[keep], rank[keep], hit[keep]
        running = np.cumsum(hit)
        first = np.r_[True, g[1:] != g[:-1]]
        before = np.maximum.accumulate(np.where(first, running - hit, 0))
        precision = (running - before) / rank * hit
        den = self.denominator
        sums = np.bincount(g, weights=precision, minlength=len(den)).astype(np.float64)
        ap = np.divide(sums, den, out=np.zeros_like(sums), where=den > 0)
        return float(ap.sum() / max(self.n_buyers, 1))


def bought_counts(customers: np.ndarray, truth: pd.DataFrame) -> np.ndarray:
    """Per customer of ``customers``, the number of distinct articles bought in ``truth``."""
    return truth_sizes(truth).reindex(customers, fill_value=0).to_numpy(np.float64)
