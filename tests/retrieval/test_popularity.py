"""Popularity: recent best sellers, time-decayed, globally or per age bucket."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.popularity import PopularityRetriever, age_segment, window_weights
from tests.histories import purchases

CUTOFF = dt.date(2020, 9, 16)
AGES = {1: 20.0, 2: 22.0, 3: 70.0, 4: np.nan, 5: 14.0, 6: 70.0}


def make_history(rows: list[tuple[int, int, int]]) -> History:
    """A History from ``(days_ago, customer, article)`` rows; articles 1..9, customers of AGES."""
    days, customers, articles = zip(*rows, strict=True) if rows else ((), (), ())
    tx = purchases(CUTOFF, days, customers, articles)
    articles = pd.DataFrame(
        {schema.ARTICLE_ID: np.arange(1, 10, dtype=np.int32), "product_code": np.arange(1, 10)}
    )
    customers = pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.array(list(AGES), np.int64),
            "age": np.array(list(AGES.values()), np.float32),
        }
    )
    return History(CUTOFF, tx, articles, customers)


# the young (1, 2) buy article 1, the old (3) article 2 twice; article 3 sold long ago
HISTORY = make_history([(1, 1, 1), (2, 2, 1), (1, 3, 2), (3, 3, 2), (6, 4, 4), (60, 1, 3)])


def lists(frame: pd.DataFrame) -> dict[int, list[int]]:
    return frame.groupby(schema.CUSTOMER_ID)[schema.ARTICLE_ID].apply(list).to_dict()


def test_age_segments_follow_the_bucket_bounds() -> None:
    ages = np.array([np.nan, 10, 16, 24.9, 25, 64, 65, 99])
    assert age_segment(ages).tolist() == [0, 0, 1, 1, 2, 5, 6, 6]


def test_linear_decay_by_hand() -> None:
    w = window_weights(np.array([1, 4, 7, 8]), 7, "linear", 3.0)
    assert w == pytest.approx([1.0, 4 / 7, 1 / 7, 0.0])


def test_global_mode_gives_everyone_the_same_decayed_list() -> None:
    model = PopularityRetriever(mode="global", days=7, decay="linear").fit(HISTORY)
    frame = model.retrieve([1, 3, 5, 999], k=10)
    got = lists(frame)
    assert set(got) == {1, 3, 5, 999}
    assert all(v == [1, 2, 4] for v in got.values())  # weights 1+6/7, 1+5/7, 2/7; 3 too old
    total = (1 + 6 / 7) + (1 + 5 / 7) + 2 / 7
    top = frame[frame[schema.CUSTOMER_ID] == 1][schema.SCORE].iloc[0]
    assert top == pytest.approx((1 + 6 / 7) / total, rel=1e-6)


def test_age_buckets_rank_their_own_sales_first_and_unknowns_get_the_global_list() -> None:
    model = PopularityRetriever(mode="age_bucket", days=7, decay="none", blend=0.2).fit(HISTORY)
    got = lists(model.retrieve([1, 2, 3, 4, 5, 6, 999], k=10))
    assert got[1] == got[2] and got[1][0] == 1  # 16-25 bought article 1
    assert got[3] == got[6] and got[3][0] == 2  # 65+ bought article 2
    assert set(got[1]) == {1, 2, 4}  # the blend brings in the global sellers
    assert got[4] == got[5] == got[999] == [1, 2, 4]  # no / out-of-range age, unknown id


def test_k_and_per_segment_cap_the_list() -> None:
    model = PopularityRetriever(mode="global", per_segment=2).fit(HISTORY)
    assert lists(model.retrieve([1], k=10))[1] == [1, 2]
    assert lists(model.retrieve([1], k=1))[1] == [1]


def test_segments_of_says_whose_list_each_customer_gets() -> None:
    model = PopularityRetriever(mode="age_bucket", days=7).fit(HISTORY)
    want = age_segment(np.array([AGES[1], AGES[3], AGES[4]], np.float32))
    assert model.segments_of(np.array([1, 3, 4])).tolist() == want.tolist()
    assert model.segments_of(np.array([99])).tolist() == [0]  # unknown: the global list
    flat = PopularityRetriever(mode="global", days=7).fit(HISTORY)
    assert flat.segments_of(np.array([1, 3, 99])).tolist() == [0, 0, 0]
    assert len(flat.segment_table()[0]) == 0


def test_lists_come_out_in_customer_order_and_need_no_sort() -> None:
    from recsys.retrieval.base import candidate_order
    from recsys.retrieval.popularity import repeat_lists

    lists = {
        "segment": np.array([0, 0, 0, 2, 2], np.int8),
        "article": np.array([7, 8, 9, 1, 2], np.int32),
        "score": np.array([0.5, 0.3, 0.2, 0.6, 0.4], np.float32),
    }
    customers = np.array([10, 11, 12, 13], np.int64)
    out = repeat_lists(customers, np.array([2, 0, 1, 2], np.int8), lists, 2)
    assert out[schema.CUSTOMER_ID].tolist() == [10, 10, 11, 11, 13, 13]  # 12: empty segment 1
    assert out[schema.ARTICLE_ID].tolist() == [1, 2, 7, 8, 1, 2]
    c, s, a = (out[col].to_numpy() for col in (schema.CUSTOMER_ID, schema.SCORE, schema.ARTICLE_ID))
    assert candidate_order(c, s, a) is None
