"""Metrics on hand-built frames: perfect = 1, no hit = 0, and hand-computed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from recsys import schema
from recsys.evaluation.metrics import (
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    pair_recall_at_k,
    ranking_metrics,
    recall_at_k,
)
from recsys.evaluation.recall import recall_table


def ranked(rows: dict[int, list[int]]) -> pd.DataFrame:
    """customer -> ordered article list as a ranked frame."""
    data = [(c, a, r + 1) for c, arts in rows.items() for r, a in enumerate(arts)]
    return pd.DataFrame(data, columns=[schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.RANK])


def truth(rows: dict[int, list[int]]) -> pd.DataFrame:
    data = [(c, a) for c, arts in rows.items() for a in arts]
    return pd.DataFrame(data, columns=[schema.CUSTOMER_ID, schema.ARTICLE_ID])


BOUGHT = truth({1: [10, 11], 2: [20], 3: [30]})
HAND = ranked({1: [99, 10, 98, 11], 2: [20], 4: [40]})  # customer 3: nothing; 4: not a buyer


def test_perfect_ranking_scores_one() -> None:
    perfect = ranked({1: [10, 11], 2: [20], 3: [30]})
    assert ranking_metrics(perfect, BOUGHT) == {
        "map@12": 1.0,
        "recall@12": 1.0,
        "ndcg@12": 1.0,
        "hit_rate@12": 1.0,
    }


def test_no_hit_scores_zero() -> None:
    miss = ranked({1: [1, 2], 2: [3], 3: [4]})
    assert set(ranking_metrics(miss, BOUGHT).values()) == {0.0}
    assert map_at_k(ranked({}), BOUGHT) == 0.0


def test_map_hand_computed() -> None:
    # customer 1: hits at ranks 2 and 4 -> (1/2 + 2/4) / min(2, 12) = 0.5; customer 2: 1; 3: 0.
    assert map_at_k(HAND, BOUGHT) == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_map_denominator_is_min_of_bought_and_k() -> None:
    many = truth({1: list(range(100, 115))})  # 15 purchases
    top12 = ranked({1: list(range(100, 112))})
    assert map_at_k(top12, many) == pytest.approx(1.0)
    assert recall_at_k(top12, many) == pytest.approx(12 / 15)


def test_recall_ndcg_hit_rate_hand_computed() -> None:
    assert recall_at_k(HAND, BOUGHT, 12) == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert recall_at_k(HAND, BOUGHT, 2) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert pair_recall_at_k(HAND, BOUGHT, 2) == pytest.approx(2 / 4)
    c1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(HAND, BOUGHT) == pytest.approx((c1 + 1.0 + 0.0) / 3)
    assert hit_rate_at_k(HAND, BOUGHT) == pytest.approx(2 / 3)


def test_duplicate_purchases_count_once() -> None:
    doubled = pd.concat([BOUGHT, BOUGHT], ignore_index=True)
    assert map_at_k(HAND, doubled) == pytest.approx(map_at_k(HAND, BOUGHT))


def test_recall_table_per_source() -> None:
    table = recall_table({"a": HAND, "b": ranked({3: [30]})}, BOUGHT, ks=(2, 12))
    assert table.loc["a", "recall@12"] == pytest.approx(2 / 3)
    assert table.loc["b", "recall@2"] == pytest.approx(1 / 3)
    assert table.loc["a", "customer_coverage"] == pytest.approx(2 / 3)
    assert table.loc["b", "articles"] == 1
