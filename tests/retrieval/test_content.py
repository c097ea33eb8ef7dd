"""Content retriever: recency-weighted seeds, context seeding, similar items, persistence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.base import NotFittedError
from recsys.retrieval.content import ContentRetriever, seed_weights
from recsys.retrieval.history import History
from recsys.retrieval.registry import load_retriever

CUTOFF = dt.date(2020, 9, 16)


def small_history() -> History:
    """Two product families (jeans 1-4, scarves 5-8); customer 100 bought jeans, 200 a scarf."""
    n = 8
    articles = pd.DataFrame(
        {
            schema.ARTICLE_ID: np.arange(1, n + 1, dtype=np.int32),
            "product_code": [1, 1, 2, 3, 4, 4, 5, 6],
            "product_type_no": [1, 1, 1, 1, 2, 2, 2, 2],
            "product_group_name": ["lower"] * 4 + ["acc"] * 4,
            "graphical_appearance_no": 1,
            "colour_group_code": [1, 2, 1, 3, 1, 2, 1, 3],
            "perceived_colour_value_id": 1,
            "perceived_colour_master_id": [1, 2, 1, 3, 1, 2, 1, 3],
            "department_no": [1, 1, 1, 1, 2, 2, 2, 2],
            "index_code": "A",
            "index_group_no": 1,
            "section_no": [1, 1, 1, 1, 2, 2, 2, 2],
            "garment_group_no": [1, 1, 1, 1, 2, 2, 2, 2],
        }
    )
    days = [3, 40, 2, 9]
    tx = pd.DataFrame(
        {
            schema.T_DAT: [pd.Timestamp(CUTOFF) - pd.Timedelta(days=d) for d in days],
            schema.CUSTOMER_ID: np.array([100, 100, 200, 300], np.int64),
            schema.ARTICLE_ID: np.array([1, 5, 6, 2], np.int32),
            schema.PRICE: np.float32(0.02),
            schema.SALES_CHANNEL_ID: np.int8(2),
        }
    ).sort_values(schema.T_DAT, ignore_index=True)
    customers = pd.DataFrame(
        {schema.CUSTOMER_ID: np.array([100, 200, 300, 400], np.int64), "age": np.float32(30)}
    )
    return History(CUTOFF, tx, articles, customers)


def fit(**params) -> ContentRetriever:
    base = {"encoder": "metadata", "active_days": 0, "encoder_params": {"dim": 6}}
    return ContentRetriever(**{**base, **params}).fit(small_history())


def test_seed_weights_decay_with_age_and_sum_to_one() -> None:
    seeds = seed_weights(small_history(), days=60, half_life=7.0, max_seeds=5)
    c100 = seeds[seeds[schema.CUSTOMER_ID] == 100].set_index(schema.ARTICLE_ID)["weight"]
    expected = np.array([0.5 ** (2 / 7), 0.5 ** (39 / 7)])
    assert c100.loc[1] == pytest.approx(expected[0] / expected.sum(), rel=1e-5)
    assert c100.sum() == pytest.approx(1.0)
    one = seed_weights(small_history(), days=60, half_life=7.0, max_seeds=1)
    assert one.loc[one[schema.CUSTOMER_ID] == 100, schema.ARTICLE_ID].tolist() == [1]
    assert (
        100
        not in seed_weights(small_history(), 30, 7.0, 5)
        .query("article_id == 5")[schema.CUSTOMER_ID]
        .tolist()
    )


def test_recent_jeans_buyer_gets_jeans_first() -> None:
    model = fit(days=60, half_life=3.0)
    frame = model.retrieve([100], k=8)
    assert set(frame[schema.ARTICLE_ID].head(4)) == {1, 2, 3, 4}
    assert frame[schema.ARTICLE_ID].iloc[0] == 1  # the seed itself (similarity 1) leads
    excluded = fit(days=60, half_life=3.0, exclude_seeds=True).retrieve([100], k=8)
    assert not excluded[schema.ARTICLE_ID].isin([1, 5]).any()
    assert excluded[schema.ARTICLE_ID].iloc[0] in (2, 3, 4)


def test_context_seeds_cold_customers_and_unknown_ids() -> None:
    model = fit(days=30)
    assert model.retrieve([400, 999], k=5).empty  # no purchases, no context: nothing
    frame = model.retrieve([400, 999], k=3, context=[6, 12345])
    assert set(frame[schema.CUSTOMER_ID]) == {400, 999}
    assert frame[schema.ARTICLE_ID].isin([5, 6, 7, 8]).all()
    assert model.retrieve([400], k=3, context=[12345]).empty


def test_mean_mode_ranks_the_same_family_first() -> None:
    frame = fit(days=30, mode="mean").retrieve([200], k=4)
    assert set(frame[schema.ARTICLE_ID]) == {5, 6, 7, 8}


def test_similar_items_for_a_product_page(tmp_path) -> None:
    model = fit()
    sim = model.similar(1, k=3)
    assert list(sim.columns) == [schema.ARTICLE_ID, schema.SCORE, schema.RANK]
    assert 1 not in sim[schema.ARTICLE_ID].tolist()
    assert set(sim[schema.ARTICLE_ID]) <= {2, 3, 4} and sim[schema.RANK].tolist() == [1, 2, 3]
    assert sim[schema.SCORE].is_monotonic_decreasing
    assert model.similar(424242, k=3).empty
    loaded = load_retriever(model.save(tmp_path / "content"))
    pd.testing.assert_frame_equal(loaded.similar(1, k=3), sim)
    with pytest.raises(NotFittedError):
        ContentRetriever().similar(1)


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_indexes_agree_on_the_tiny_world(history, index: str) -> None:
    customers = history.recent(28)[schema.CUSTOMER_ID].unique()[:50]
    exact = ContentRetriever(encoder="metadata").fit(history).retrieve(customers, k=20)
    approx = (
        ContentRetriever(encoder="metadata", index=index, nprobe=32)
        .fit(history)
        .retrieve(customers, k=20)
    )
    pairs = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    overlap = len(exact[pairs].merge(approx[pairs])) / len(exact)
    assert overlap > 0.8


def test_chunks_give_the_same_candidates_as_one_call(history) -> None:
    """Neighbour lists are searched once per depth, so chunking cannot change a score."""
    model = ContentRetriever(encoder="metadata").fit(history)
    buyers = np.sort(history.recent(60)[schema.CUSTOMER_ID].unique())
    whole = model.retrieve(buyers, 20)
    parts = [model.retrieve(buyers[lo : lo + 7], 20) for lo in range(0, len(buyers), 7)]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    seeds = model.seeds[model.seeds[schema.CUSTOMER_ID].isin(buyers[:5])]
    pd.testing.assert_frame_equal(model._seed_pairs(buyers[:5], np.zeros(0, np.int32)), seeds)
