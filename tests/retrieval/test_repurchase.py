"""Repurchase: own past articles, recency- and frequency-weighted."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.repurchase import RepurchaseRetriever, decay_weights, rows_of
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


def test_recent_purchase_outranks_an_old_one() -> None:
    history = make_history([(100, 1, 1), (2, 1, 2)])
    frame = RepurchaseRetriever(half_life_days=30).fit(history).retrieve([1], k=5)
    assert frame[schema.ARTICLE_ID].tolist() == [2, 1]


def test_frequency_adds_up_with_a_hand_computed_score() -> None:
    history = make_history([(10, 1, 1), (10, 1, 1), (5, 1, 1), (1, 1, 2)])
    frame = RepurchaseRetriever(half_life_days=10).fit(history).retrieve([1], k=5)
    scores = dict(zip(frame[schema.ARTICLE_ID], frame[schema.SCORE], strict=True))
    assert scores[1] == pytest.approx(2 * 2 ** (-9 / 10) + 2 ** (-4 / 10), rel=1e-6)
    assert scores[2] == pytest.approx(1.0)
    assert frame[schema.ARTICLE_ID].tolist() == [1, 2]


def test_lookback_window_and_k_and_unknown_customers() -> None:
    history = make_history([(200, 1, 1), (3, 1, 2), (4, 1, 3), (5, 2, 4)])
    model = RepurchaseRetriever(days=100).fit(history)
    frame = model.retrieve([1, 2, 3, 999], k=1)
    assert frame.set_index(schema.CUSTOMER_ID)[schema.ARTICLE_ID].to_dict() == {1: 2, 2: 4}


def test_decay_is_one_the_day_before_the_cutoff() -> None:
    assert decay_weights(np.array([1, 11]), 10.0) == pytest.approx([1.0, 0.5])


def test_rows_of_finds_every_row_of_the_wanted_keys() -> None:
    keys = np.array([1, 1, 3, 5, 5, 5], np.int64)
    assert rows_of(keys, np.array([5, 2, 1])).tolist() == [3, 4, 5, 0, 1]


def test_siblings_share_the_weights_repurchase_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys.retrieval import repurchase
    from recsys.retrieval.siblings import SiblingsRetriever

    rows = [(10, 1, 1), (3, 1, 2), (40, 2, 3), (1, 3, 1)]
    calls = []
    compute = repurchase._customer_article_weights

    def counted(*args):
        calls.append(args[1:])
        return compute(*args)

    monkeypatch.setattr(repurchase, "_customer_article_weights", counted)
    history = make_history(rows)
    alone = RepurchaseRetriever(half_life_days=60).fit(make_history(rows)).retrieve([1, 2, 3])
    repurchase_model = RepurchaseRetriever(half_life_days=60).fit(history)
    SiblingsRetriever(half_life_days=60).fit(history)
    SiblingsRetriever(half_life_days=30).fit(history)  # other arguments: computed again
    assert calls == [(None, 60), (None, 60), (None, 30)]
    pd.testing.assert_frame_equal(repurchase_model.retrieve([1, 2, 3]), alone)
    weights = repurchase.customer_article_weights(history, None, 60)[2]
    with pytest.raises(ValueError):  # shared, so read-only
        weights[0] = 0.0
