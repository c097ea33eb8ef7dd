"""The request path's selection and rules over many customers at once, with numpy.

:func:`serving.scoring.best_items` and :func:`serving.scoring.finish` order one customer's
scored candidates and apply the context-free rules; here the same steps run over a whole chunk
of customers: a grouped top-k by (customer, -score, article), repeats dropped, short lists
topped up from the best sellers on sale, in place of Python loops per customer and item. The
lists are the same, item for item (a test compares every customer with the request path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Lists:
    """Top-``k`` lists of ``n`` customers: a row each, cells past ``lengths`` zero."""

    articles: np.ndarray  # (n, k) int32
    scores: np.ndarray  # (n, k) float32
    sources: np.ndarray  # (n, k) int16, index into a vocabulary of source names
    lengths: np.ndarray  # (n,) int64

    @classmethod
    def empty(cls, n: int, k: int) -> Lists:
        """``n`` empty lists."""
        return cls(
            np.zeros((n, k), np.int32),
            np.zeros((n, k), np.float32),
            np.zeros((n, k), np.int16),
            np.zeros(n, np.int64),
        )

    def filled(self) -> np.ndarray:
        """(n, k) bool: the cells holding an item."""
        return np.arange(self.articles.shape[1]) < self.lengths[:, None]


def grouped_top(
    group: np.ndarray,
    n: int,
    articles: np.ndarray,
    scores: np.ndarray,
    sources: np.ndarray,
    keep: np.ndarray,
    k: int,
) -> Lists:
    """Per group ``0..n-1``, its ``k`` kept rows of highest score (ties: lower article id first),
    as :func:`serving.scoring.best_items` orders one customer's candidates."""
    rows = np.flatnonzero(keep)
    order = rows[np.lexsort((articles[rows], -scores[rows], group[rows]))]
    owner = group[order]
    rank = np.arange(len(order)) - np.searchsorted(owner, owner)  # position within the group
    top = rank < k
    order, owner, rank = order[top], owner[top], rank[top]
    out = Lists.empty(n, k)
    out.articles[owner, rank] = articles[order]
    out.scores[owner, rank] = scores[order]  # float64 -> float32, as an item's score is
    out.sources[owner, rank] = sources[order]
    out.lengths[:] = np.bincount(owner, minlength=n)
    return out


def drop_repeats(lists: Lists) -> Lists:
    """``lists`` without an article listed earlier in its row, order kept (rows compacted)."""
    a, filled = lists.articles, lists.filled()
    k = a.shape[1]
    earlier = np.tri(k, k, -1, dtype=bool)  # [j, i]: i < j
    same = (a[:, :, None] == a[:, None, :]) & filled[:, None, :] & earlier
    keep = filled & ~same.any(axis=2)
    if keep.sum() == filled.sum():
        return lists
    order = np.argsort(~keep, axis=1, kind="stable")
    pick = np.take_along_axis
    out = Lists(
        pick(a, order, 1), pick(lists.scores, order, 1), pick(lists.sources, order, 1), keep.sum(1)
    )
    return _zero_tail(out)


def top_up(lists: Lists, popular: np.ndarray, code: int) -> Lists:
    """Rows completed to ``k`` with ``popular`` articles (deduplicated, in order) not already
    in them, scored 0 with source ``code``, as :func:`serving.rules.top_up` completes one list."""
    a, filled = lists.articles, lists.filled()
    k = a.shape[1]
    fallback = np.asarray(popular[:k], np.int32)  # a row holds at most k - need of them
    listed = ((a[:, None, :] == fallback[None, :, None]) & filled[:, None, :]).any(axis=2)
    free = ~listed
    slot = lists.lengths[:, None] + np.cumsum(free, axis=1) - 1  # where each free one would go
    rows, cols = np.nonzero(free & (slot < k))
    at = slot[rows, cols]
    a[rows, at] = fallback[cols]
    lists.scores[rows, at] = 0.0
    lists.sources[rows, at] = code
    lists.lengths[:] = np.minimum(k, lists.lengths + free.sum(axis=1))
    return lists


def _zero_tail(lists: Lists) -> Lists:
    """``lists`` with every cell past a row's length set to zero."""
    empty = ~lists.filled()
    for array in (lists.articles, lists.scores, lists.sources):
        array[empty] = 0
    return lists


def first_seen_codes(lists: Lists, n_names: int) -> tuple[np.ndarray, np.ndarray]:
    """(``lists.sources`` renumbered by first use, row by row, empty cells 0; the old codes in
    their new order), as a per-item loop that names sources as it meets them numbers them."""
    filled = lists.filled()
    used, first = np.unique(lists.sources[filled], return_index=True)
    used = used[np.argsort(first)]
    remap = np.zeros(n_names, np.int16)
    remap[used] = np.arange(len(used), dtype=np.int16)
    return np.where(filled, remap[lists.sources], 0), used
