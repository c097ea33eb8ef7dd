"""Two-tower retriever: feature helpers by hand, and behaviour on a small hand-built world."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.registry import create, load_retriever
from recsys.retrieval.twotower import (
    TwoTowerRetriever,
    age_bucket,
    customer_runs,
    dynamic_buckets,
    lookup,
    previous_items,
    take,
)

CUTOFF = dt.date(2020, 9, 16)
GROUP_A = list(range(101, 106))  # bought by customers 1..20 (department 1)
GROUP_B = list(range(201, 206))  # bought by customers 21..40 (department 2)
FAST = {"epochs": 15, "batch_size": 128, "dim": 16, "hidden": 32, "lr": 0.02, "days": 70}


def test_lookup_and_age_buckets() -> None:
    vocab = np.array([3, 5, 9], dtype=np.int64)
    assert lookup(vocab, np.array([5, 4, 9, 100])).tolist() == [2, 0, 3, 0]
    assert lookup(np.zeros(0, np.int64), np.array([1])).tolist() == [0]
    assert age_bucket(np.array([np.nan, 15, 16, 24.9, 25, 70])).tolist() == [0, 1, 2, 2, 3, 7]


def test_take_gathers_rows_and_zeros_unknowns_without_touching_the_table() -> None:
    table = np.arange(12, dtype=np.int32).reshape(4, 3)
    got = take(table, np.array([0, 1, 4, 0, 2]))
    assert got.tolist() == [[0, 0, 0], [0, 1, 2], [9, 10, 11], [0, 0, 0], [3, 4, 5]]
    assert table.tolist() == np.arange(12).reshape(4, 3).tolist()
    assert take(np.arange(3, dtype=np.int8), np.array([0, 3])).tolist() == [0, 2]
    assert take(np.zeros((0, 3), np.int32), np.array([0, 0])).shape == (2, 3)


def test_bags_hold_earlier_days_of_the_same_customer_only() -> None:
    # rows sorted by customer then time; days_ago decreasing = later
    cust = np.array([1, 1, 1, 1, 2, 2])
    days = np.array([30, 20, 20, 5, 9, 3])
    art = np.array([11, 12, 13, 14, 21, 22])
    first_c, first_cd = customer_runs(cust, -days)
    assert first_c.tolist() == [0, 0, 0, 0, 4, 4]
    assert first_cd.tolist() == [0, 1, 1, 3, 4, 5]
    bags = previous_items(art, first_cd, first_c, 2)
    # a same-day basket never sees itself; customer 2 never sees customer 1's articles
    assert bags.tolist() == [[0, 0], [11, 0], [11, 0], [13, 12], [0, 0], [21, 0]]
    last = np.array([4, 6])  # serving: one past each customer's last row
    assert previous_items(art, last, np.array([0, 4]), 3).tolist() == [[14, 13, 12], [22, 21, 0]]


def test_dynamic_buckets_count_only_earlier_sales() -> None:
    tx_art = np.array([1, 1, 1, 2, 1])
    tx_days = np.array([40, 12, 9, 3, 2])
    art, day = np.array([1, 1, 2, 2]), np.array([0, 9, 3, 0])
    pop, weeks = dynamic_buckets(tx_art, tx_days, art, day, n_art=2)
    # article 1 seen at the cutoff: sales 2 days ago only in the last week -> log2(2) = 1
    # seen 9 days before the cutoff: the sale 12 days ago -> 1; article 2 on its first day: 0
    assert pop.tolist() == [1, 1, 0, 1]
    # weeks since the first earlier sale (+1); 0 = never sold before that day
    assert weeks.tolist() == [1 + 39 // 7, 1 + 30 // 7, 0, 1]


def small_history() -> History:
    """Two taste groups buying disjoint articles every few days for ten weeks."""
    rows = []
    for c in range(1, 41):
        items = GROUP_A if c <= 20 else GROUP_B
        for week in range(10):
            for j in range(2):
                day = CUTOFF - dt.timedelta(days=7 * week + 1 + (c + j) % 6)
                rows.append((day, c, items[(c + week + 2 * j) % 5]))
    tx = pd.DataFrame(rows, columns=[schema.T_DAT, schema.CUSTOMER_ID, schema.ARTICLE_ID])
    tx[schema.T_DAT] = pd.to_datetime(tx[schema.T_DAT]).astype("datetime64[ns]")
    tx = tx.astype({schema.CUSTOMER_ID: np.int64, schema.ARTICLE_ID: np.int32})
    tx[schema.PRICE] = np.float32(0.02)
    tx[schema.SALES_CHANNEL_ID] = np.int8(2)
    tx = tx.sort_values(schema.T_DAT, kind="stable", ignore_index=True)
    ids = np.array(GROUP_A + GROUP_B + [301, 302], dtype=np.int32)
    articles = pd.DataFrame(
        {
            schema.ARTICLE_ID: ids,
            "department_no": (ids // 100).astype(np.int32),
            "colour_group_code": (ids % 3).astype(np.int32),
        }
    )
    customers = pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.arange(1, 46, dtype=np.int64),
            "age": np.r_[np.full(20, 22.0), np.full(20, 50.0), np.full(5, np.nan)].astype(
                np.float32
            ),
        }
    )
    return History(CUTOFF, tx, articles, customers)


@pytest.fixture(scope="module")
def fitted() -> TwoTowerRetriever:
    return TwoTowerRetriever(**FAST).fit(small_history())


def test_customers_get_their_groups_articles(fitted: TwoTowerRetriever) -> None:
    frame = fitted.retrieve(np.arange(1, 41), k=5)
    top = frame[frame[schema.RANK] <= 3]
    in_a = top[schema.ARTICLE_ID].isin(GROUP_A)
    wanted = np.where(top[schema.CUSTOMER_ID] <= 20, in_a, ~in_a)
    assert wanted.mean() > 0.9
    # articles never sold in the last index_days days are not served
    assert not frame[schema.ARTICLE_ID].isin([301, 302]).any()


def test_context_steers_an_unknown_customer(fitted: TwoTowerRetriever) -> None:
    unknown = 10**12
    for group in (GROUP_A, GROUP_B):
        frame = fitted.retrieve([unknown], k=3, context=group[:3] + [999_999])
        assert frame[schema.ARTICLE_ID].isin(group).sum() >= 2


def test_cold_start_customers_get_candidates(fitted: TwoTowerRetriever) -> None:
    frame = fitted.retrieve([41, 42, 10**12], k=4)
    assert frame.groupby(schema.CUSTOMER_ID).size().tolist() == [4, 4, 4]
    # same (unknown) age and no id/bag: the same vector as an id that exists nowhere
    scores = frame.pivot(index=schema.CUSTOMER_ID, columns=schema.RANK, values=schema.SCORE)
    np.testing.assert_array_equal(scores.loc[41].to_numpy(), scores.loc[10**12].to_numpy())


def test_params_round_trip_and_save_load(fitted: TwoTowerRetriever, tmp_path) -> None:
    params = fitted.params()
    assert params["name"] == "twotower" and params["dim"] == 16
    assert create("twotower", **params).params() == params
    loaded = load_retriever(fitted.save(tmp_path / "tt"))
    asked = np.array([1, 25, 41, 10**12])
    pd.testing.assert_frame_equal(
        fitted.retrieve(asked, 5, [101]), loaded.retrieve(asked, 5, [101])
    )


def test_a_history_without_recent_sales_still_serves() -> None:
    history = small_history()
    old = History(CUTOFF, history.transactions.iloc[:0], history.articles, history.customers)
    frame = TwoTowerRetriever(**{**FAST, "epochs": 1}).fit(old).retrieve([1, 10**12], k=3)
    assert frame.groupby(schema.CUSTOMER_ID).size().tolist() == [3, 3]
