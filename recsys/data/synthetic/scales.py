"""World sizes: ``tiny`` (tests), ``small`` (``make run``), ``medium`` (benchmarks), ``full``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

KAGGLE_END_DATE = dt.date(2020, 9, 22)  # a Tuesday: the last day of Kaggle's last week
DAYS_PER_WEEK = 7


@dataclass(frozen=True)
class ScaleConfig:
    """How big a synthetic world is; counts of articles and transactions are approximate targets."""

    name: str
    n_customers: int
    n_articles: int
    n_transactions: int
    n_weeks: int
    end_date: dt.date = KAGGLE_END_DATE
    weeks_per_chunk: int = 4  # weeks simulated and written per CSV chunk

    def __post_init__(self) -> None:
        if self.end_date.weekday() != 1:
            raise ValueError(f"end_date must be a Tuesday, got {self.end_date:%A} {self.end_date}")
        if min(self.n_customers, self.n_articles, self.n_transactions, self.n_weeks) <= 0:
            raise ValueError("scale sizes must be positive")

    @property
    def start_date(self) -> dt.date:
        """The first day (a Wednesday) of the first week."""
        return self.end_date - dt.timedelta(days=DAYS_PER_WEEK * self.n_weeks - 1)

    @property
    def n_days(self) -> int:
        """Number of days covered."""
        return DAYS_PER_WEEK * self.n_weeks


SCALES: dict[str, ScaleConfig] = {
    "tiny": ScaleConfig("tiny", 1_000, 600, 20_000, 26),
    "small": ScaleConfig("small", 10_000, 3_000, 200_000, 105),
    "medium": ScaleConfig("medium", 150_000, 20_000, 3_500_000, 105),
    "full": ScaleConfig("full", 1_371_980, 105_542, 31_788_324, 105),
}


def resolve_scale(scale: str | ScaleConfig) -> ScaleConfig:
    """A :class:`ScaleConfig` from its name (or itself)."""
    if isinstance(scale, ScaleConfig):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}") from None
