"""User-user similarity on hand-built customers with hand-made article vectors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval import useruser
from recsys.retrieval.history import History
from recsys.retrieval.registry import load_retriever
from recsys.retrieval.useruser import UserUserRetriever
from tests.histories import purchases

CUTOFF = dt.date(2020, 9, 23)
# articles 1-3 point one way ("dresses"), 4-6 the other ("trousers")
VECS = np.array([[1, 0], [1, 0.1], [1, -0.1], [0, 1], [0.1, 1], [-0.1, 1]], dtype=np.float32)
VECS /= np.linalg.norm(VECS, axis=1, keepdims=True)


def make_history(rows: list[tuple[int, int, int]]) -> History:
    """History from (customer, article, days before the cutoff) rows; articles 1..6."""
    customers, articles, days = zip(*rows, strict=True) if rows else ((), (), ())
    tx = purchases(CUTOFF, days, customers, articles)
    articles = pd.DataFrame({schema.ARTICLE_ID: np.arange(6, 0, -1, dtype=np.int32)})  # unsorted
    customers = pd.DataFrame({schema.CUSTOMER_ID: np.arange(1, 11, dtype=np.int64), "age": 30.0})
    return History(CUTOFF, tx, articles, customers)


@pytest.fixture(autouse=True)
def fake_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Article vectors by article id, whatever row order the retriever passes."""
    monkeypatch.setattr(
        useruser,
        "encode_remembered",
        lambda articles, kind: VECS[articles[schema.ARTICLE_ID].to_numpy() - 1],
    )


# customers 1, 2 like dresses, 3 likes trousers; 2 and 3 bought recently
ROWS = [(1, 1, 20), (2, 1, 3), (2, 2, 2), (3, 4, 2), (3, 5, 1), (4, 3, 1)]


def articles_for(frame: pd.DataFrame, customer: int) -> list[int]:
    return frame.loc[frame[schema.CUSTOMER_ID] == customer, schema.ARTICLE_ID].tolist()


def test_similar_customers_vote_and_self_is_excluded() -> None:
    model = UserUserRetriever(n_neighbours=1, recent_days=7).fit(make_history(ROWS))
    frame = model.retrieve([1, 2, 3], k=5)
    assert sorted(articles_for(frame, 1)) in ([1, 2], [3])  # a dress lover's purchases
    assert set(articles_for(frame, 3)) <= {1, 2, 3}  # customer 3's only other is a dress lover
    assert set(articles_for(frame, 2)) == {3}  # nearest other recent buyer: customer 4


def test_votes_weigh_similarity_and_recency() -> None:
    model = UserUserRetriever(n_neighbours=3, recent_days=7, recent_half_life=1.0)
    frame = model.fit(make_history(ROWS)).retrieve([1], k=10).set_index(schema.ARTICLE_ID)
    scores = frame[schema.SCORE]
    assert scores[2] > scores[1]  # customer 2 bought 2 yesterday-ish, 1 a day earlier
    assert scores[2] > scores[4]  # a dress buyer's vote outweighs the trouser buyer's


def test_context_stands_for_an_unknown_customer() -> None:
    model = UserUserRetriever(n_neighbours=1, recent_days=7).fit(make_history(ROWS))
    assert model.retrieve([99], k=5).empty
    frame = model.retrieve([99], k=5, context=[6, 777])
    assert set(articles_for(frame, 99)) == {4, 5}  # the trouser buyer's purchases


@pytest.mark.parametrize("index_kind", ["exact", "hnsw", "ivf"])
def test_save_and_load(index_kind: str, tmp_path: Path) -> None:
    model = UserUserRetriever(n_neighbours=2, recent_days=7, index_kind=index_kind)
    model.fit(make_history(ROWS))
    loaded = load_retriever(model.save(tmp_path / "uu"))
    pd.testing.assert_frame_equal(model.retrieve([1, 2, 3, 4], 5), loaded.retrieve([1, 2, 3, 4], 5))
