"""Seasonal: what sold in the same weeks last year (still on sale), as a popularity list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.popularity import PopularityRetriever, SegmentConfig


def seasonal_window(
    max_days_ago: int, lag_days: int, before_days: int, after_days: int
) -> tuple[int, int]:
    """``(lo, hi)``: the window holds transactions with ``lo < days_ago <= hi``.

    The target week starts ``lag_days`` days after last year's ``cutoff - lag_days``; the window
    spans ``before_days`` before that day to ``after_days`` after it. When the history is shorter,
    the lag shrinks so the window's oldest edge is the oldest day held (the closest to "last
    year" there is); it never reaches into the future of the cutoff.
    """
    lag = max(min(lag_days, max_days_ago - before_days), after_days)
    return lag - after_days, lag + before_days


@dataclass(frozen=True)
class SeasonalConfig(SegmentConfig):
    """Parameters of :class:`SeasonalRetriever` (``mode``, ``blend``, ``per_segment`` as in
    popularity)."""

    lag_days: int = 364  # last year's date is the cutoff minus ``lag_days``
    before_days: int = 0  # the window starts this many days before last year's date
    after_days: int = 28  # and ends this many days after it
    boost: float = 0.0  # exponent of (window share / share over the last lag_days); 0: none
    recent_days: int | None = 3  # keep articles sold in these last days (None: keep all)


class SeasonalRetriever(PopularityRetriever, kind="seasonal", config=SeasonalConfig):
    """Best sellers of the same weeks one year before the cutoff, for every customer.

    Sales between ``before_days`` before and ``after_days`` after ``cutoff - lag_days`` (the
    weeks that last year followed the same date), as shares, optionally multiplied by
    ``(window share / share over the last lag_days) ** boost`` to favour seasonal items. With
    ``recent_days`` only articles that sold in the last ``recent_days`` days are kept (the rest
    are likely off sale). ``mode``/``blend`` split by age bucket as in ``popularity``.
    """

    config: SeasonalConfig

    def _weights(self, history: History) -> np.ndarray:
        days_ago = history.days_ago
        if len(days_ago) == 0:
            return np.zeros(0)
        cfg = self.config
        lo, hi = seasonal_window(int(days_ago.max()), cfg.lag_days, cfg.before_days, cfg.after_days)
        return ((days_ago > lo) & (days_ago <= hi)).astype(np.float64)

    def _adjust(self, history: History, ids: np.ndarray, shares: np.ndarray) -> np.ndarray:
        cfg = self.config
        if cfg.recent_days is not None:
            sold = history.recent(cfg.recent_days)[schema.ARTICLE_ID].unique()
            shares = shares * np.isin(ids, sold)[None, :]
        if cfg.boost:
            year = history.recent(cfg.lag_days)[schema.ARTICLE_ID].value_counts(normalize=True)
            base = year.reindex(ids, fill_value=0).to_numpy(np.float64) + 1e-6
            shares = shares * (shares[0] / base)[None, :] ** cfg.boost
        return shares
