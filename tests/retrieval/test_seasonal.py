"""Seasonal: best sellers of the same weeks last year, still on sale."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.seasonal import SeasonalRetriever, seasonal_window
from tests.histories import purchases

CUTOFF = dt.date(2020, 9, 16)


def make_history(rows: list[tuple[int, int, int]]) -> History:
    """A History from ``(days_ago, customer, article)`` rows; articles 1..9, customers 1..5."""
    days, customers, articles = zip(*rows, strict=True) if rows else ((), (), ())
    tx = purchases(CUTOFF, days, customers, articles)
    articles = pd.DataFrame(
        {schema.ARTICLE_ID: np.arange(1, 10, dtype=np.int32), "product_code": np.arange(1, 10)}
    )
    customers = pd.DataFrame(
        {schema.CUSTOMER_ID: np.arange(1, 6, dtype=np.int64), "age": np.float32(30)}
    )
    return History(CUTOFF, tx, articles, customers)


# in last year's window (days_ago 337..364): 1 twice, 2 three times, 5 three times;
# 1 and 5 sold again in the last days, 2 did not (off sale); 3 sold outside the window,
# 4 only recently; 5 also sold all year round
ROWS = [
    (350, 1, 1),
    (340, 2, 1),
    (345, 1, 2),
    (346, 2, 2),
    (347, 3, 2),
    (350, 3, 5),
    (351, 4, 5),
    (352, 5, 5),
    (2, 1, 1),
    (1, 2, 5),
    (100, 1, 3),
    (2, 3, 4),
    *[(200, 4, 5)] * 10,
    (400, 1, 6),
]
HISTORY = make_history(ROWS)


def articles_of(frame: pd.DataFrame, customer: int) -> list[int]:
    return frame[frame[schema.CUSTOMER_ID] == customer][schema.ARTICLE_ID].tolist()


def test_window_is_the_weeks_after_the_same_day_last_year() -> None:
    assert seasonal_window(800, 364, 0, 28) == (336, 364)
    assert seasonal_window(800, 364, 7, 14) == (350, 371)


def test_short_history_shifts_the_window_to_the_oldest_days() -> None:
    assert seasonal_window(100, 364, 0, 28) == (72, 100)
    assert seasonal_window(10, 364, 0, 28) == (0, 28)


def test_recent_filter_drops_articles_off_sale() -> None:
    model = SeasonalRetriever(mode="global", recent_days=3).fit(HISTORY)
    frame = model.retrieve([1, 999], k=10)
    assert articles_of(frame, 1) == articles_of(frame, 999) == [5, 1]
    scores = frame[frame[schema.CUSTOMER_ID] == 1][schema.SCORE].tolist()
    assert scores == pytest.approx([3 / 8, 2 / 8])


def test_without_the_filter_last_years_sellers_come_back() -> None:
    model = SeasonalRetriever(mode="global", recent_days=None).fit(HISTORY)
    assert articles_of(model.retrieve([1], k=10), 1) == [2, 5, 1]


def test_boost_favours_items_that_sell_mostly_in_season() -> None:
    model = SeasonalRetriever(mode="global", recent_days=None, boost=1.0).fit(HISTORY)
    ranked = articles_of(model.retrieve([1], k=10), 1)
    assert ranked.index(1) < ranked.index(5)
