"""Popularity: the best sellers of the last days, time-decayed, globally or per age bucket."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from recsys import schema
from recsys.features.spec import AGE_BUCKETS
from recsys.retrieval.base import Retriever
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.history import History
from recsys.retrieval.state import load_arrays, save_arrays

Mode = Literal["global", "age_bucket"]
Decay = Literal["none", "linear", "exp"]
MODES: tuple[str, ...] = get_args(Mode)
DECAYS: tuple[str, ...] = get_args(Decay)
N_SEGMENTS = len(AGE_BUCKETS) + 1  # segment 0: everyone (unknown age); 1..: the age buckets


def age_segment(ages: np.ndarray) -> np.ndarray:
    """Segment per age: ``i + 1`` for bucket i = [AGE_BUCKETS[i], AGE_BUCKETS[i+1]) (the last
    bucket is open-ended), 0 for a missing age or one below the first bound."""
    ages = np.asarray(ages, dtype=np.float64)
    seg = np.searchsorted(np.asarray(AGE_BUCKETS, np.float64), ages, side="right")
    return np.where(np.isnan(ages), 0, seg).astype(np.int8)


def window_weights(
    days_ago: np.ndarray, days: int, decay: str, half_life_days: float
) -> np.ndarray:
    """Weight per transaction: 0 outside the last ``days`` days, else by ``decay`` (``none``: 1,
    ``linear``: 1 the day before the cutoff down to ``1/days`` on the oldest day, ``exp``: halving
    every ``half_life_days`` days)."""
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {DECAYS}, got {decay!r}")
    d = days_ago.astype(np.float64)
    if decay == "none":
        w = np.ones_like(d)
    elif decay == "linear":
        w = (days + 1 - d) / days
    else:
        w = np.exp2(-(d - 1) / half_life_days)
    return np.where(d <= days, w, 0.0)


def segment_shares(
    articles: np.ndarray, segments: np.ndarray, weights: np.ndarray, blend: float
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``(N_SEGMENTS, n_articles)`` weight shares over the unique ``articles``.

    Row 0 is everyone's share; a bucket row is ``(1 - blend) * bucket share + blend * row 0``
    (the global row where the bucket bought nothing). Returns ``(article ids, shares)``.
    """
    ids, col = np.unique(articles, return_inverse=True)
    mat = np.zeros((N_SEGMENTS, len(ids)))
    np.add.at(mat, (segments.astype(np.int64), col), weights)
    mat[0] = mat.sum(axis=0)
    totals = mat.sum(axis=1, keepdims=True)
    shares = np.divide(mat, totals, out=np.zeros_like(mat), where=totals > 0)
    empty = totals[1:, 0] <= 0
    shares[1:] = np.where(empty[:, None], shares[0], (1 - blend) * shares[1:] + blend * shares[0])
    return ids.astype(np.int32), shares


def ranked_lists(
    ids: np.ndarray, shares: np.ndarray, per_segment: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``per_segment`` best articles of each row (score desc, then id), flattened:
    ``segment, article_id, score`` grouped by segment in rank order; zero scores dropped."""
    segs, arts, scores = [], [], []
    for seg, row in enumerate(shares):  # a handful of segments, not customers
        order = np.lexsort((ids, -row))[:per_segment]
        order = order[row[order] > 0]
        segs.append(np.full(len(order), seg, np.int8))
        arts.append(ids[order])
        scores.append(row[order].astype(np.float32))
    return np.concatenate(segs), np.concatenate(arts), np.concatenate(scores)


def repeat_lists(
    customers: np.ndarray, cust_seg: np.ndarray, lists: dict[str, np.ndarray], k: int
) -> pd.DataFrame:
    """Each customer gets the first ``k`` entries of their segment's list, rows in customer order
    (as given) then list order: one gather, no per-segment frames, nothing left to sort."""
    segment = np.asarray(lists["segment"], np.int64)
    sizes = np.bincount(segment, minlength=int(cust_seg.max(initial=0)) + 1)
    starts = np.cumsum(sizes) - sizes  # lists are grouped by segment, in segment order
    seg = np.asarray(cust_seg, np.int64)
    lengths = np.minimum(sizes[seg], k) if len(seg) else np.zeros(0, np.int64)
    offsets = np.repeat(starts[seg] - (np.cumsum(lengths) - lengths), lengths)
    take = offsets + np.arange(int(lengths.sum()))
    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.repeat(np.asarray(customers, np.int64), lengths),
            schema.ARTICLE_ID: np.asarray(lists["article"], np.int32)[take],
            schema.SCORE: np.asarray(lists["score"], np.float32)[take],
        }
    )


@dataclass(frozen=True)
class SegmentConfig(RetrieverConfig):
    """Parameters of every best-seller list retriever (popularity, seasonal)."""

    mode: Mode = "age_bucket"  # one list for everyone, or one per age bucket of AGE_BUCKETS
    blend: float = 0.3  # share of the global list mixed into each age bucket's list
    per_segment: int = 1000  # articles kept in each list


@dataclass(frozen=True)
class PopularityConfig(SegmentConfig):
    """Parameters of :class:`PopularityRetriever`."""

    days: int = 14  # sales of the last ``days`` days count
    decay: Decay = "linear"  # how a sale's weight falls with its age (see window_weights)
    half_life_days: float = 3.0  # with decay="exp": a sale this many days older weighs half


class PopularityRetriever(Retriever, kind="popularity", config=PopularityConfig):
    """The same best-seller list for every customer of a segment (the cold-start fallback).

    Sales of the last ``days`` days, weighted by ``decay``, as shares of the window. With
    ``mode="age_bucket"`` each age bucket of ``AGE_BUCKETS`` gets its own list, blended with the
    global one by ``blend``; customers with no (or an out-of-range) age and unknown ids get the
    global list. Every asked customer gets rows; ``context`` is ignored.
    """

    fit_weight = 0.1  # about 1 s at full H&M scale

    config: PopularityConfig

    def __init__(self, config: SegmentConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self._lists: dict[str, np.ndarray] = {}

    def _weights(self, history: History) -> np.ndarray:
        """Weight of every transaction of ``history`` (0: outside the window)."""
        cfg = self.config
        return window_weights(history.days_ago, cfg.days, cfg.decay, cfg.half_life_days)

    def _adjust(self, history: History, ids: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """Hook for subclasses to rescore the segment shares before ranking."""
        return shares

    def _fit(self, history: History) -> None:
        tx = history.transactions
        w = self._weights(history)
        keep = w > 0
        buyers = tx[schema.CUSTOMER_ID].to_numpy(np.int64)[keep]
        seg = np.zeros(len(buyers), np.int8)
        cust = history.customers[schema.CUSTOMER_ID].to_numpy(np.int64)
        cust_seg = age_segment(history.customers["age"].to_numpy())
        order = np.argsort(cust, kind="stable")
        cust, cust_seg = cust[order], cust_seg[order]
        by_age = self.config.mode == "age_bucket"
        if by_age and len(cust):
            seg = lookup_segment(cust, cust_seg, buyers)
        arts = tx[schema.ARTICLE_ID].to_numpy(np.int32)[keep]
        ids, shares = segment_shares(arts, seg, w[keep], self.config.blend)
        shares = self._adjust(history, ids, shares)
        s, a, sc = ranked_lists(ids, shares, self.config.per_segment)
        self._lists = {"segment": s, "article": a, "score": sc}
        if by_age:
            self._lists.update(customers=cust, customer_segment=cust_seg)

    def segment_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted customer ids, their segment): whose list is which; anyone else gets 0."""
        if self.config.mode != "age_bucket":
            return np.zeros(0, np.int64), np.zeros(0, np.int8)
        return self._lists["customers"], self._lists["customer_segment"]

    def segments_of(self, customers: np.ndarray) -> np.ndarray:
        """The segment whose list each of ``customers`` gets (0: the global list)."""
        return lookup_segment(*self.segment_table(), np.asarray(customers, np.int64))

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        return repeat_lists(customers, self.segments_of(customers), self._lists, k)

    def _save_state(self, path: Path) -> None:
        save_arrays(path, self.kind, **self._lists)

    def _load_state(self, path: Path) -> None:
        self._lists = load_arrays(path, self.kind)


def lookup_segment(sorted_ids: np.ndarray, segments: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Segment of each ``wanted`` id (0 where the id is not in ``sorted_ids``, e.g. empty)."""
    if len(sorted_ids) == 0:
        return np.zeros(len(wanted), np.int8)
    pos = np.clip(np.searchsorted(sorted_ids, wanted), 0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == wanted, segments[pos], 0).astype(np.int8)
