"""Two-tower retriever: feature helpers by hand, and behaviour on a small hand-built world."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval import twotower
from recsys.retrieval.history import History
from recsys.retrieval.registry import create, load_retriever
from recsys.retrieval.twotower import (
    TwoTowerRetriever,
    age_bucket,
    anchor_cutoff,
    anchor_key,
    customer_runs,
    dynamic_buckets,
    keep_model,
    lookup,
    previous_items,
    take,
    truncate,
)

CUTOFF = dt.date(2020, 9, 16)
GROUP_A = list(range(101, 106))  # bought by customers 1..20 (department 1)
GROUP_B = list(range(201, 206))  # bought by customers 21..40 (department 2)
FAST = {"epochs": 15, "batch_size": 128, "dim": 16, "hidden": 32, "lr": 0.02, "days": 70}
FAST |= {"anchor_weeks": 0}  # always cold (CUTOFF is no anchor of the default 4 weeks)


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


# -- warm start ----------------------------------------------------------------------------------
ANCHOR = dt.date(2020, 9, 9)  # CUTOFF's anchor every 2 weeks (week index 103)
WARM = {**FAST, "anchor_weeks": 2, "warm_epochs": 3}


def with_newcomers() -> History:
    """:func:`small_history` plus customer 41 buying the never-sold article 301 after ANCHOR."""
    history = small_history()
    days = [CUTOFF - dt.timedelta(days=d) for d in (2, 3)]
    new = history.transactions.iloc[:2].copy()
    new[schema.T_DAT] = pd.to_datetime(days).astype("datetime64[ns]")
    new[schema.CUSTOMER_ID] = np.int64(41)
    new[schema.ARTICLE_ID] = np.int32(301)
    tx = pd.concat([history.transactions, new], ignore_index=True)
    tx = tx.sort_values(schema.T_DAT, kind="stable", ignore_index=True)
    return History(CUTOFF, tx, history.articles, history.customers)


def state(retriever: TwoTowerRetriever) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in retriever.model.state_dict().items()}


def assert_same_model(a: TwoTowerRetriever, b: TwoTowerRetriever) -> None:
    left, right = state(a), state(b)
    assert left.keys() == right.keys()
    for name in left:
        np.testing.assert_array_equal(left[name], right[name], err_msg=name)
    assert a.losses == b.losses


def test_anchor_cutoffs_are_every_n_weeks_from_the_epoch() -> None:
    assert schema.week_index(CUTOFF) == 103
    assert anchor_cutoff(CUTOFF, 2) == ANCHOR
    assert anchor_cutoff(CUTOFF, 4) == dt.date(2020, 8, 26)
    assert anchor_cutoff(CUTOFF, 1) == CUTOFF
    assert anchor_cutoff(ANCHOR, 2) == ANCHOR
    assert anchor_cutoff(CUTOFF + dt.timedelta(days=1), 1) == CUTOFF  # a Thursday cutoff
    assert anchor_cutoff(schema.WEEK_EPOCH - dt.timedelta(days=1), 3) < schema.WEEK_EPOCH


def test_truncate_keeps_the_tables_and_earlier_transactions() -> None:
    history = small_history()
    before = truncate(history, ANCHOR)
    assert before.cutoff == ANCHOR and before.articles is history.articles
    tx = history.transactions
    assert len(before.transactions) == (tx[schema.T_DAT] < pd.Timestamp(ANCHOR)).sum() > 0
    assert before.transactions[schema.T_DAT].max() < pd.Timestamp(ANCHOR)


def test_cold_fits_whatever_anchor_weeks_on_an_anchor_cutoff() -> None:
    history = small_history()
    cold = TwoTowerRetriever(**FAST).fit(history)
    assert len(cold.losses) == FAST["epochs"]
    assert_same_model(cold, TwoTowerRetriever(**{**FAST, "anchor_weeks": 1}).fit(history))
    # no sales in the training window before the anchor: nothing to start from, cold
    late = truncate(history, CUTOFF)
    tx = late.transactions[late.transactions[schema.T_DAT] >= pd.Timestamp(ANCHOR)]
    recent = History(CUTOFF, tx.reset_index(drop=True), history.articles, history.customers)
    assert_same_model(TwoTowerRetriever(**FAST).fit(recent), TwoTowerRetriever(**WARM).fit(recent))


def test_a_warm_fit_starts_from_the_anchors_cold_fit() -> None:
    history = with_newcomers()
    anchor = TwoTowerRetriever(**FAST).fit(truncate(history, ANCHOR))
    warm = TwoTowerRetriever(**{**WARM, "warm_epochs": 0}).fit(history)
    assert warm.losses == []
    old, new = state(anchor), state(warm)
    for name in old:
        if name not in ("article_id.weight", "customer_id.weight"):
            np.testing.assert_array_equal(old[name], new[name], err_msg=name)
    np.testing.assert_array_equal(old["article_id.weight"], new["article_id.weight"])
    rows = lookup(warm.arrays["cust_vocab"], anchor.arrays["cust_vocab"])
    assert (rows > 0).all()  # every customer of the anchor's window is in today's
    np.testing.assert_array_equal(new["customer_id.weight"][rows], old["customer_id.weight"][1:])
    newcomer = lookup(warm.arrays["cust_vocab"], np.array([41]))[0]
    assert newcomer > 0 and not new["customer_id.weight"][newcomer].any()  # initial zeros


def test_warm_fit_is_the_same_from_cache_dir_or_memory(tmp_path) -> None:
    history = with_newcomers()
    memory = TwoTowerRetriever(**WARM).fit(history)
    assert len(memory.losses) == WARM["warm_epochs"]
    cold = TwoTowerRetriever(**FAST).fit(history)
    assert not np.array_equal(
        state(memory)["customer_mlp.0.weight"], state(cold)["customer_mlp.0.weight"]
    )
    cache = {**WARM, "cache_dir": str(tmp_path)}
    first = TwoTowerRetriever(**cache).fit(history)  # fits the anchor and keeps it
    kept = [p.name for p in (tmp_path / "twotower").iterdir()]
    assert len(kept) == 1 and not kept[0].startswith(".tmp-")
    second = TwoTowerRetriever(**cache).fit(history)  # loads it
    for other in (first, second):
        assert_same_model(memory, other)
    asked = np.array([1, 25, 41, 10**12])
    pd.testing.assert_frame_equal(memory.retrieve(asked, 5), second.retrieve(asked, 5))


def test_newcomers_since_the_anchor_get_vectors() -> None:
    warm = TwoTowerRetriever(**WARM).fit(with_newcomers())
    row = lookup(warm.arrays["cust_vocab"], np.array([41]))[0]
    assert row > 0 and warm.model.customer_id.weight[row].abs().sum() > 0  # trained
    frame = warm.retrieve([41], k=3)
    assert len(frame) == 3
    # article 301 (first sold after the anchor) is served and is 41's top pick
    assert frame[schema.ARTICLE_ID].iloc[0] == 301


def test_anchor_key_follows_the_history_before_the_anchor() -> None:
    history = small_history()
    params = TwoTowerRetriever(**FAST).config.to_params()
    key = anchor_key(truncate(history, ANCHOR), params)
    assert key == anchor_key(truncate(with_newcomers(), ANCHOR), params)  # later rows only
    tx = history.transactions.drop(index=0).reset_index(drop=True)
    changed = History(CUTOFF, tx, history.articles, history.customers)
    assert anchor_key(truncate(changed, ANCHOR), params) != key
    assert anchor_key(truncate(history, ANCHOR), {**params, "dim": 8}) != key


def test_kept_anchors_are_whole_and_few(fitted: TwoTowerRetriever, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(twotower, "KEEP_ANCHORS", 2)
    for name in ("a", "b", "a", "c"):  # "a" again: kept already, the copy is dropped
        keep_model(fitted, tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"]
    loaded = load_retriever(tmp_path / "c" / "model")
    pd.testing.assert_frame_equal(fitted.retrieve([1, 25], 5), loaded.retrieve([1, 25], 5))


def test_a_fit_on_an_anchor_cutoff_is_kept_for_the_next_ones(tmp_path, monkeypatch) -> None:
    history = with_newcomers()
    cache = {**WARM, "cache_dir": str(tmp_path)}
    on_anchor = TwoTowerRetriever(**cache).fit(truncate(history, ANCHOR))
    assert_same_model(on_anchor, TwoTowerRetriever(**FAST).fit(truncate(history, ANCHOR)))
    assert len(list((tmp_path / "twotower").iterdir())) == 1

    def refit(*args) -> None:
        raise AssertionError("the anchor was fitted again")

    monkeypatch.setattr(twotower, "keep_model", refit)
    warm = TwoTowerRetriever(**cache).fit(history)
    assert_same_model(warm, TwoTowerRetriever(**WARM).fit(history))
