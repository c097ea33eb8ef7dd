"""Siblings: other articles of the same product code as the purchases or the context."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.siblings import SiblingsRetriever
from tests.histories import purchases

CUTOFF = dt.date(2020, 9, 16)
CODES = {1: 10, 2: 10, 3: 10, 4: 20, 5: 20, 6: 30}  # article -> product code


def make_history(rows: list[tuple[int, int, int]]) -> History:
    """A History from ``(days_ago, customer, article)`` rows over the articles of ``CODES``."""
    days, customers, articles = zip(*rows, strict=True) if rows else ((), (), ())
    tx = purchases(CUTOFF, days, customers, articles)
    articles = pd.DataFrame(
        {
            schema.ARTICLE_ID: np.array(list(CODES), np.int32),
            "product_code": np.array(list(CODES.values()), np.int32),
        }
    )
    customers = pd.DataFrame(
        {schema.CUSTOMER_ID: np.arange(1, 6, dtype=np.int64), "age": np.float32(30)}
    )
    return History(CUTOFF, tx, articles, customers)


HISTORY = make_history(
    [(2, 1, 1), (3, 2, 2), (4, 3, 2), (5, 4, 2), (6, 2, 3), (7, 2, 4), (8, 3, 5), (9, 3, 6)]
)


def scores(frame: pd.DataFrame, customer: int) -> dict[int, float]:
    mine = frame[frame[schema.CUSTOMER_ID] == customer]
    return dict(zip(mine[schema.ARTICLE_ID].tolist(), mine[schema.SCORE].tolist(), strict=True))


def test_siblings_share_the_product_code_and_exclude_the_purchase() -> None:
    model = SiblingsRetriever(half_life_days=10, smoothing=0.0).fit(HISTORY)
    got = scores(model.retrieve([1], k=10), 1)
    assert set(got) == {2, 3}
    assert all(CODES[a] == CODES[1] for a in got)
    weight = 2 ** (-1 / 10)  # one purchase two days before the cutoff
    assert got[2] == pytest.approx(weight * 3 / 5, rel=1e-6)  # code 10 sold 1, 3 and 1
    assert got[3] == pytest.approx(weight * 1 / 5, rel=1e-6)


def test_no_siblings_for_single_article_codes_and_bought_siblings_are_skipped() -> None:
    model = SiblingsRetriever(smoothing=0.0).fit(HISTORY)
    got = scores(model.retrieve([2, 3], k=10), 3)
    assert set(got) == {1, 3, 4}  # 2 and 5 were bought by 3; article 6 has no sibling


def test_context_seeds_siblings_for_cold_customers_and_unknown_ids_are_ignored() -> None:
    model = SiblingsRetriever(smoothing=0.0, context_weight=2.0).fit(HISTORY)
    frame = model.retrieve([5, 123456], k=10, context=[4, 999_999])
    for customer in (5, 123456):
        assert scores(frame, customer) == {5: pytest.approx(2.0 * 1 / 2)}
    assert model.retrieve([5], k=10).empty


def test_k_keeps_the_best_siblings() -> None:
    model = SiblingsRetriever(smoothing=0.0).fit(HISTORY)
    frame = model.retrieve([1], k=1)
    assert frame[schema.ARTICLE_ID].tolist() == [2]
