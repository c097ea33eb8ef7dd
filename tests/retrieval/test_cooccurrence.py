"""Co-occurrence ('bought together') on hand-built baskets, and the shared item-graph helpers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import schema
from recsys.retrieval import itemgraph
from recsys.retrieval.cooccurrence import CooccurrenceRetriever
from recsys.retrieval.history import History
from recsys.retrieval.itemgraph import chunk_bounds, pruned_gram, top_per_row
from tests.histories import purchases

CUTOFF = dt.date(2020, 9, 23)


def make_history(rows: list[tuple[int, int, int]], n_articles: int = 6) -> History:
    """History from (customer, article, days before the cutoff) rows; articles 1..n_articles."""
    customers, articles, days = zip(*rows, strict=True) if rows else ((), (), ())
    tx = purchases(CUTOFF, days, customers, articles)
    articles = pd.DataFrame({schema.ARTICLE_ID: np.arange(1, n_articles + 1, dtype=np.int32)})
    customers = pd.DataFrame({schema.CUSTOMER_ID: np.arange(1, 11, dtype=np.int64), "age": 30.0})
    return History(CUTOFF, tx, articles, customers)


# baskets (customer-day): {1,2} twice, {1,3} once; customer 5 buys 4 and 5 on different days
BASKETS = [(1, 1, 3), (1, 2, 3), (2, 1, 4), (2, 2, 4), (3, 1, 5), (3, 3, 5), (5, 4, 2), (5, 5, 3)]


def counting(**params: object) -> CooccurrenceRetriever:
    """A retriever counting baskets without decay (hand-computable counts)."""
    return CooccurrenceRetriever(**{"basket_half_life": 0.0, **params})


def scores(frame: pd.DataFrame, customer: int) -> dict[int, float]:
    mine = frame[frame[schema.CUSTOMER_ID] == customer]
    return dict(zip(mine[schema.ARTICLE_ID].tolist(), mine[schema.SCORE].tolist(), strict=True))


def test_hand_computed_scores_from_a_recent_seed() -> None:
    history = make_history([*BASKETS, (4, 1, 1)])  # customer 4 bought article 1 yesterday
    model = counting(seed_half_life=0.0).fit(history)
    got = scores(model.retrieve([4], k=10), 4)
    assert got == {2: pytest.approx(2.0), 3: pytest.approx(1.0)}  # basket {1} adds no pair


def test_different_days_are_different_baskets() -> None:
    model = counting().fit(make_history(BASKETS))
    assert model.sim[3, 4] == 0 and model.sim[4, 3] == 0  # articles 4 and 5 (codes 3, 4)


def test_context_seeds_a_cold_customer_and_unknown_ids_are_ignored() -> None:
    model = counting().fit(make_history(BASKETS))
    assert model.retrieve([99], k=5).empty
    got = scores(model.retrieve([99], k=5, context=[2, 123456]), 99)
    assert got == {1: pytest.approx(2.0)}


def test_recent_seeds_weigh_more() -> None:
    # customer 4 bought article 2 yesterday and article 3 thirty days ago
    history = make_history([*BASKETS, (4, 2, 1), (4, 3, 30)])
    got = scores(counting(seed_half_life=14.0).fit(history).retrieve([4], k=5), 4)
    assert got[1] == pytest.approx(2.0 * 1.0 + 1.0 * 0.5 ** (29 / 14), rel=1e-5)


def test_exclude_bought_drops_the_seeds() -> None:
    history = make_history([*BASKETS, (4, 2, 1), (4, 3, 1)])
    kept = scores(counting().fit(history).retrieve([4], k=5), 4)
    dropped = scores(counting(exclude_bought=True).fit(history).retrieve([4], k=5), 4)
    assert {2, 3} <= set(kept) and not {2, 3} & set(dropped)


def test_window_forgets_old_baskets() -> None:
    history = make_history([*BASKETS, (6, 4, 100), (6, 5, 100), (4, 4, 1)])
    assert scores(counting(days=30).fit(history).retrieve([4], k=5), 4) == {}
    assert 5 in scores(counting(days=200).fit(history).retrieve([4], k=5), 4)


def test_pruned_gram_keeps_the_top_neighbours_per_row() -> None:
    x = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1]], dtype=np.float32))
    ones = np.ones(4, dtype=np.float32)
    full = pruned_gram(x, 10, ones, ones).toarray()
    expected = (x.T @ x).toarray()
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(full, expected)
    top1 = pruned_gram(x, 1, ones, ones).toarray()
    assert (np.count_nonzero(top1, axis=1) <= 1).all() and top1[0, 1] == 2


def test_helpers_chunk_and_rank() -> None:
    assert chunk_bounds(np.array([5, 5, 5, 5]), 10).tolist() == [0, 2, 4]
    matrix = sp.csr_matrix(np.array([[0, 2, 2, 1], [1, 0, 0, 0], [0, -1, 3, 0.5]]))
    rows, cols, vals = top_per_row(matrix, 2)
    assert rows.tolist() == [0, 0, 1, 2, 2]
    assert cols.tolist() == [1, 2, 0, 2, 3] and vals.tolist() == [2, 2, 1, 3, 0.5]


def test_the_pruned_gram_is_the_same_whatever_its_row_blocks(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    x = sp.random(300, 80, density=0.05, format="csr", random_state=rng, dtype=np.float64)
    scale, weight = rng.random(80) + 0.5, rng.random(300) + 0.5
    whole = pruned_gram(x, 7, scale, scale[::-1].copy(), weight)
    monkeypatch.setattr(itemgraph, "GRAM_BUDGET", 5)  # many blocks of a few rows
    blocks = pruned_gram(x, 7, scale, scale[::-1].copy(), weight)
    assert (whole != blocks).nnz == 0 and whole.nnz > 0
    np.testing.assert_array_equal(whole.indptr, blocks.indptr)
