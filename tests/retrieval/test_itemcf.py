"""Item-based collaborative filtering on hand-built purchases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.itemcf import ItemCFRetriever
from tests.histories import purchases

CUTOFF = dt.date(2020, 9, 23)


def make_history(rows: list[tuple[int, int, int]], n_articles: int = 6) -> History:
    """History from (customer, article, days before the cutoff) rows; articles 1..n_articles."""
    customers, articles, days = zip(*rows, strict=True) if rows else ((), (), ())
    tx = purchases(CUTOFF, days, customers, articles)
    articles = pd.DataFrame({schema.ARTICLE_ID: np.arange(1, n_articles + 1, dtype=np.int32)})
    customers = pd.DataFrame({schema.CUSTOMER_ID: np.arange(1, 11, dtype=np.int64), "age": 30.0})
    return History(CUTOFF, tx, articles, customers)


# article 1 bought by customers 1-4; article 2 by 1, 2 (on other days than 1); article 3 by 3 only;
# article 4 by 1-4 and 6, 7 (popular)
ROWS = [
    (1, 1, 3),
    (1, 2, 9),
    (2, 1, 4),
    (2, 2, 8),
    (3, 1, 5),
    (3, 3, 5),
    (4, 1, 6),
    (1, 4, 3),
    (2, 4, 4),
    (3, 4, 5),
    (4, 4, 6),
    (6, 4, 2),
    (7, 4, 2),
]


def counting(**params: object) -> ItemCFRetriever:
    """A retriever whose purchases all count 1 (hand-computable similarities)."""
    return ItemCFRetriever(**{"half_life": 0.0, **params})


def sim_of(model: ItemCFRetriever, i: int, j: int) -> float:
    return float(model.sim[i - 1, j - 1])  # articles 1..n have codes 0..n-1


def test_cosine_normalises_by_both_frequencies() -> None:
    model = counting(alpha=0.5, damp_heavy=False).fit(make_history(ROWS))
    assert sim_of(model, 1, 2) == pytest.approx(2 / np.sqrt(4 * 2))
    assert sim_of(model, 1, 4) == pytest.approx(4 / np.sqrt(4 * 6))
    assert sim_of(model, 2, 1) == pytest.approx(sim_of(model, 1, 2))


def test_conditional_probability_with_alpha_one() -> None:
    model = counting(alpha=1.0, damp_heavy=False).fit(make_history(ROWS))
    assert sim_of(model, 2, 1) == pytest.approx(2 / 2)  # P(1 | 2)
    assert sim_of(model, 1, 2) == pytest.approx(2 / 4)  # P(2 | 1)


def test_same_customer_on_other_days_counts() -> None:
    model = counting(damp_heavy=False).fit(make_history(ROWS))
    assert sim_of(model, 1, 2) > 0  # customers 1, 2 bought 1 and 2 on different days


def test_heavy_buyers_count_less() -> None:
    plain = counting(alpha=0.5, damp_heavy=False).fit(make_history(ROWS))
    damped = counting(alpha=0.5, damp_heavy=True).fit(make_history(ROWS))
    # customers 1, 2 bought 3 articles each: each pair counts 1 / log2(4) = 0.5
    assert sim_of(damped, 1, 2) == pytest.approx(0.5 * sim_of(plain, 1, 2))


def test_scores_from_seeds_and_context() -> None:
    history = make_history([*ROWS, (8, 2, 1)])
    model = counting(alpha=0.5, damp_heavy=False, seed_half_life=0.0).fit(history)
    frame = model.retrieve([8, 99], k=3, context=[3, 424242])
    mine = frame[frame[schema.CUSTOMER_ID] == 8].set_index(schema.ARTICLE_ID)[schema.SCORE]
    expected = sim_of(model, 2, 1) + sim_of(model, 3, 1)
    assert mine[1] == pytest.approx(expected)
    assert set(frame[schema.CUSTOMER_ID]) == {8, 99}  # the context seeds the unknown customer
    assert model.retrieve([99], k=3).empty


def test_recent_purchases_count_more_with_a_half_life() -> None:
    history = make_history(ROWS)
    model = counting(alpha=0.5, damp_heavy=False, half_life=2.0).fit(history)
    # customer 1 bought 1 (3 days ago) and 2 (9 days ago); customer 2: 1 (4) and 2 (8)
    together = 0.5 ** (2 / 2) * 0.5 ** (8 / 2) + 0.5 ** (3 / 2) * 0.5 ** (7 / 2)
    assert sim_of(model, 1, 2) == pytest.approx(together / np.sqrt(4 * 2), rel=1e-5)


def test_cooccurrence_shares_the_seeds_itemcf_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys.retrieval import itemgraph
    from recsys.retrieval.cooccurrence import CooccurrenceRetriever

    calls = []
    compute = itemgraph._customer_seeds
    monkeypatch.setattr(
        itemgraph, "_customer_seeds", lambda *args: calls.append(args[2:]) or compute(*args)
    )
    rows = [(1, 1, 2), (1, 2, 2), (2, 1, 5), (2, 3, 5), (3, 2, 1)]
    history = make_history(rows)
    itemcf = ItemCFRetriever().fit(history)
    cooc = CooccurrenceRetriever().fit(history)
    CooccurrenceRetriever(max_seeds=1).fit(history)  # other arguments: computed again
    assert len(calls) == 2 and calls[1][2] == 1
    assert cooc.seeds is itemcf.seeds
    fresh = CooccurrenceRetriever().fit(make_history(rows))
    assert (fresh.seeds != cooc.seeds).nnz == 0
    np.testing.assert_array_equal(fresh.seed_ids, cooc.seed_ids)
