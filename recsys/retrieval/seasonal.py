"""Seasonal: what sold in the same weeks last year (still on sale), as a popularity list."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.popularity import PopularityRetriever


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


class SeasonalRetriever(PopularityRetriever):
    """Best sellers of the same weeks one year before the cutoff, for every customer.

    Sales between ``before_days`` before and ``after_days`` after ``cutoff - lag_days`` (the
    weeks that last year followed the same date), as shares, optionally multiplied by
    ``(window share / share over the last lag_days) ** boost`` to favour seasonal items. With
    ``recent_days`` only articles that sold in the last ``recent_days`` days are kept (the rest
    are likely off sale). ``mode``/``blend`` split by age bucket as in ``popularity``.
    """

    kind = "seasonal"

    def __init__(
        self,
        *,
        lag_days: int = 364,
        before_days: int = 0,
        after_days: int = 28,
        boost: float = 0.0,
        recent_days: int | None = 3,
        mode: str = "age_bucket",
        blend: float = 0.3,
        per_segment: int = 1000,
        name: str | None = None,
    ) -> None:
        super().__init__(mode=mode, blend=blend, per_segment=per_segment, name=name)
        self.lag_days, self.before_days, self.after_days = lag_days, before_days, after_days
        self.boost, self.recent_days = boost, recent_days

    def params(self) -> dict[str, Any]:
        return {
            "lag_days": self.lag_days,
            "before_days": self.before_days,
            "after_days": self.after_days,
            "boost": self.boost,
            "recent_days": self.recent_days,
            "mode": self.mode,
            "blend": self.blend,
            "per_segment": self.per_segment,
            "name": self.name,
        }

    def _weights(self, history: History) -> np.ndarray:
        days_ago = history.days_ago
        if len(days_ago) == 0:
            return np.zeros(0)
        lo, hi = seasonal_window(
            int(days_ago.max()), self.lag_days, self.before_days, self.after_days
        )
        return ((days_ago > lo) & (days_ago <= hi)).astype(np.float64)

    def _adjust(self, history: History, ids: np.ndarray, shares: np.ndarray) -> np.ndarray:
        if self.recent_days is not None:
            sold = history.recent(self.recent_days)[schema.ARTICLE_ID].unique()
            shares = shares * np.isin(ids, sold)[None, :]
        if self.boost:
            year = history.recent(self.lag_days)[schema.ARTICLE_ID].value_counts(normalize=True)
            base = year.reindex(ids, fill_value=0).to_numpy(np.float64) + 1e-6
            shares = shares * (shares[0] / base)[None, :] ** self.boost
        return shares
