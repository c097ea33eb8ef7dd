"""Interaction features by hand and against a merge-based reference, MAP@12 of grouped
predictions, LightGBM ranker round trip and scoring in blocks of rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.evaluation.metrics import map_at_k
from recsys.ranking import interactions
from recsys.ranking import ranker as ranker_module
from recsys.ranking.interactions import (
    AFFINITY_ATTRIBUTES,
    DENSE_KEYS,
    PRICE_DAYS,
    RECENT_DAYS,
    InteractionTables,
    feature_names,
    interaction_features,
)
from recsys.ranking.ranker import (
    Ranker,
    RankerConfig,
    group_ids,
    grouped_map,
    matrix,
    sort_groups,
)
from recsys.ranking.recommend import top_by_score
from recsys.ranking.rows import grouping
from recsys.ranking.sampling import LABEL
from recsys.ranking.train import bought_counts, train_ranker
from recsys.retrieval.history import History
from recsys.schema import CUTOFF

C, A = schema.CUSTOMER_ID, schema.ARTICLE_ID


def history() -> History:
    """Customer 1 bought article 5 twice (days 30 and 3 before the cutoff) and 6 (a sibling)."""
    cutoff = dt.date(2020, 9, 16)
    day = lambda n: pd.Timestamp(cutoff) - pd.Timedelta(days=n)  # noqa: E731
    tx = pd.DataFrame(
        {
            schema.T_DAT: [day(30), day(10), day(3), day(2)],
            C: np.array([1, 1, 1, 2], np.int64),
            A: np.array([5, 6, 5, 7], np.int32),
            schema.PRICE: np.array([0.02, 0.04, 0.02, 0.05], np.float32),
            schema.SALES_CHANNEL_ID: np.int8(2),
        }
    )
    base = {"product_code": [50, 50, 70, 80], "product_type_no": [1, 1, 2, 1]}
    arts = pd.DataFrame({A: np.array([5, 6, 7, 8], np.int32), **base})
    for attr in AFFINITY_ATTRIBUTES[1:]:  # every attribute but the type: one shared value
        arts[attr] = 1
    custs = pd.DataFrame({C: np.array([1, 2], np.int64), "age": [25.0, 50.0]})
    return History(cutoff, tx.sort_values(schema.T_DAT), arts, custs)


def test_interaction_features_by_hand() -> None:
    pairs = pd.DataFrame({C: [1, 1, 1, 9], A: [5, 6, 8, 5]})
    got = interaction_features(history(), pairs)
    assert list(got.columns) == feature_names()
    assert got["ca_count"].tolist() == [2, 1, 0, 0]
    assert got["ca_count_4w"].tolist() == [1, 1, 0, 0]  # the day-30 purchase is outside 28 days
    assert got["ca_days_since"].iloc[:2].tolist() == [3, 10]
    assert np.isnan(got["ca_days_since"].iloc[2])
    assert got["cp_count"].tolist() == [3, 3, 0, 0]  # 5 and 6 share product 50
    assert got["aff_product_type_no"].tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0])
    # article 5's mean price in the last 28 days (0.02) over customer 1's mean paid (0.08 / 3)
    assert got["price_ratio"].iloc[0] == pytest.approx(0.02 / (0.08 / 3), rel=1e-5)


def random_history(seed: int = 0, n: int = 3000) -> History:
    """Random purchases of 300 customers over 80 articles in the 120 days before the cutoff."""
    rng = np.random.default_rng(seed)
    cutoff = dt.date(2020, 9, 16)
    tx = pd.DataFrame(
        {
            schema.T_DAT: pd.Timestamp(cutoff) - pd.to_timedelta(rng.integers(1, 120, n), "D"),
            C: rng.integers(0, 300, n).astype(np.int64) * 7919 - 1000,  # some ids negative
            A: rng.integers(0, 80, n).astype(np.int32),
            schema.PRICE: rng.random(n).astype(np.float32) / 10,
            schema.SALES_CHANNEL_ID: np.int8(1),
        }
    ).sort_values(schema.T_DAT, kind="stable", ignore_index=True)
    arts = pd.DataFrame({A: np.arange(75, dtype=np.int32), "product_code": np.arange(75) // 3})
    for i, attr in enumerate(AFFINITY_ATTRIBUTES):
        arts[attr] = np.arange(75) % (i + 2)
    custs = pd.DataFrame({C: np.unique(tx[C]), "age": 30.0})
    return History(cutoff, tx, arts, custs)


def test_tables_grouped_by_customer_give_the_scan_s_features_chunk_by_chunk() -> None:
    history = random_history()
    rng = np.random.default_rng(1)
    known = np.unique(history.transactions[C])
    asked = np.r_[known, 10**12, -(10**12)]  # two customers who never bought
    pairs = pd.DataFrame(
        {C: np.repeat(asked, 30), A: rng.integers(0, 85, 30 * len(asked)).astype(np.int32)}
    )  # articles 75..84 are not in the catalogue
    whole = interaction_features(history, pairs)
    tables = InteractionTables.build(history)
    assert np.all(np.diff(tables.customers) > 0) and tables.offsets[-1] == len(history.transactions)
    parts = [
        interaction_features(history, pairs.iloc[i : i + 1000], tables)
        for i in range(0, len(pairs), 1000)
    ]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    for some in (asked[:1], asked[5:40], asked[-3:], asked[:0]):
        np.testing.assert_array_equal(
            tables.rows(some), np.flatnonzero(history.transactions[C].isin(some))
        )


def merged_features(history: History, pairs: pd.DataFrame) -> pd.DataFrame:
    """The interaction features by pandas groupbys and merges, as first written: the reference."""
    attrs = history.articles[[A, "product_code", *AFFINITY_ATTRIBUTES]].set_index(A)
    price = history.recent(PRICE_DAYS).groupby(A)[schema.PRICE].mean()
    keys = pairs[[C, A]].reset_index(drop=True)
    tx = history.transactions
    rows = np.flatnonzero(tx[C].isin(keys[C].unique()).to_numpy())
    tx = pd.DataFrame({c: tx[c].to_numpy()[rows] for c in (C, A, schema.PRICE)})
    tx["days_ago"] = history.days_ago[rows]
    tx = tx.merge(attrs, left_on=A, right_index=True, how="left")
    out = {}
    for key, prefix in ((A, "ca"), ("product_code", "cp")):
        stats = tx.groupby([C, key], sort=False)["days_ago"].agg(["size", "min"])
        recent = tx[tx["days_ago"] <= RECENT_DAYS].groupby([C, key], sort=False).size()
        stats["count_4w"] = recent.reindex(stats.index, fill_value=0)
        value = keys[A] if key == A else attrs[key].reindex(keys[A]).to_numpy()
        left = pd.DataFrame({C: keys[C], key: value})
        joined = left.merge(stats, left_on=[C, key], right_index=True, how="left")
        out[f"{prefix}_count"] = joined["size"].fillna(0).to_numpy(np.float32)
        out[f"{prefix}_count_4w"] = joined["count_4w"].fillna(0).to_numpy(np.float32)
        out[f"{prefix}_days_since"] = joined["min"].to_numpy(np.float32)
    totals = tx.groupby(C, sort=False).size().rename("total")
    for attr in AFFINITY_ATTRIBUTES:
        counts = tx.groupby([C, attr], sort=False).size().rename("n")
        left = pd.DataFrame({C: keys[C], attr: attrs[attr].reindex(keys[A]).to_numpy()})
        joined = left.merge(counts, left_on=[C, attr], right_index=True, how="left")
        joined = joined.merge(totals, left_on=C, right_index=True, how="left")
        share = joined["n"].fillna(0) / joined["total"]
        out[f"aff_{attr}"] = share.fillna(0).to_numpy(np.float32)
    paid = tx.groupby(C)[schema.PRICE].mean().reindex(keys[C]).to_numpy()
    out["price_ratio"] = (price.reindex(keys[A]).to_numpy() / paid).astype(np.float32)
    return pd.DataFrame(out)


@pytest.mark.parametrize("dense_keys", [DENSE_KEYS, 0])
def test_features_equal_the_merged_reference_bit_for_bit(dense_keys: int, monkeypatch) -> None:
    monkeypatch.setattr(interactions, "DENSE_KEYS", dense_keys)  # counts tabled, then hashed
    for seed in range(3):
        history = random_history(seed)
        arts = history.articles
        arts.loc[::11, "section_no"] = np.nan  # null attributes never match
        arts.loc[::13, "product_code"] = np.nan
        rng = np.random.default_rng(seed)
        asked = np.r_[np.unique(history.transactions[C]), 10**12]  # one who never bought
        pairs = pd.DataFrame(
            {C: np.repeat(asked, 30), A: rng.integers(0, 85, 30 * len(asked)).astype(np.int32)}
        ).sample(frac=1, random_state=seed)  # customers interleaved, as any caller may ask
        want = merged_features(history, pairs)
        for tables in (None, InteractionTables.build(history)):
            got = interaction_features(history, pairs, tables)
            assert got.columns.tolist() == want.columns.tolist() == feature_names()
            assert (got.dtypes == np.float32).all() and got["cp_count"].gt(0).any()
            np.testing.assert_array_equal(
                got.to_numpy().view(np.uint32), want.to_numpy().view(np.uint32)
            )
    assert interaction_features(history, pairs.iloc[:0]).columns.tolist() == feature_names()


def random_week(
    seed: int, n_customers: int = 300, per: int = 20
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates whose label depends on feature ``x``; truth includes uncovered purchases."""
    rng = np.random.default_rng(seed)
    cust = np.repeat(np.arange(n_customers, dtype=np.int64), per)
    art = np.tile(np.arange(per, dtype=np.int32), n_customers)
    x = rng.normal(size=len(cust))
    label = (x + rng.normal(scale=0.7, size=len(cust)) > 1.6).astype(np.int8)
    frame = pd.DataFrame(
        {
            C: cust,
            A: art,
            "x": x,
            "noise": rng.normal(size=len(cust)),
            LABEL: label,
            CUTOFF: pd.Timestamp("2020-09-16"),
        }
    )
    truth = frame.loc[frame[LABEL] == 1, [C, A]]
    extra = pd.DataFrame({C: np.arange(0, n_customers, 3, dtype=np.int64), A: np.int32(999)})
    return frame, pd.concat([truth, extra], ignore_index=True)


def test_grouped_map_equals_kaggle_map() -> None:
    frame, truth = random_week(0)
    frame = sort_groups(frame)
    preds = frame["x"].to_numpy()
    _, (_, _, customers) = grouping(frame)  # each group's customer
    got = grouped_map(
        preds,
        frame[LABEL].to_numpy(),
        group_ids(frame),
        bought_counts(customers, truth),
        truth[C].nunique(),
    )
    ranked = top_by_score(frame, preds, 12).rename(columns={})
    assert got == pytest.approx(map_at_k(ranked, truth))


@pytest.mark.parametrize("objective", ["lambdarank", "binary"])
def test_ranker_learns_saves_and_loads(objective: str, tmp_path) -> None:
    train, _ = random_week(1)
    valid, truth = random_week(2)
    config = RankerConfig(objective=objective, n_estimators=60, early_stopping_rounds=10, threads=1)
    ranker = train_ranker(train, valid, truth, ["x", "noise"], config)
    scores = ranker.score(valid)
    learnt = map_at_k(top_by_score(valid, scores), truth)
    assert learnt > 2 * map_at_k(top_by_score(valid, valid["noise"].to_numpy()), truth)
    assert ranker.importance().index[0] == "x"
    assert 1 <= ranker.best_iteration <= 60 and len(ranker.curve) >= ranker.best_iteration
    loaded = Ranker.load(ranker.save(tmp_path / "r"))
    np.testing.assert_allclose(loaded.score(valid), scores, rtol=1e-6)
    again = train_ranker(train, valid, truth, ["x", "noise"], config)
    np.testing.assert_array_equal(again.score(valid), scores)  # deterministic


def test_scores_a_block_of_rows_at_a_time_equal_the_whole_matrix_s(monkeypatch) -> None:
    train, _ = random_week(1)
    valid, truth = random_week(2)
    config = RankerConfig(n_estimators=20, early_stopping_rounds=20, threads=1)
    ranker = train_ranker(train, valid, truth, ["x", "noise"], config)
    whole = ranker.predict(matrix(valid, ranker.features, ranker.vocab))
    monkeypatch.setattr(ranker_module, "SCORE_ROWS", 997)  # blocks, the last one short
    np.testing.assert_array_equal(ranker.score(valid), whole)
    assert len(ranker.score(valid.iloc[:0])) == 0
