"""Feature snapshots: schema == spec, one row per entity, values vs. a pandas reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from recsys import schema
from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs
from recsys.features.snapshots import (
    SnapshotError,
    build_snapshot,
    read_snapshot,
    snapshot_path,
    snapshot_schema,
)
from recsys.features.spec import (
    AGE_BUCKETS,
    PRODUCT_GROUPS,
    WINDOWS,
    article_features,
    customer_features,
    slug,
)
from tests.conftest import make_settings

N_CUTOFFS = 5


@pytest.fixture(scope="module")
def lake(published_home: Path) -> Lake:
    """The session's published tiny lake (read only)."""
    return Lake(make_settings(published_home).paths.lake)


@pytest.fixture(scope="module")
def cutoff(lake: Lake) -> dt.date:
    """A cutoff with four weeks of data after it."""
    return default_cutoffs(lake, N_CUTOFFS)[0]


@pytest.fixture(scope="module")
def built(lake: Lake, cutoff: dt.date, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A features folder with both snapshots for ``cutoff``."""
    features = tmp_path_factory.mktemp("features")
    build_snapshot(lake, cutoff, features)
    return features


@pytest.fixture(scope="module")
def tx(lake: Lake, cutoff: dt.date) -> pd.DataFrame:
    """The lake's transactions before ``cutoff`` as pandas, ``t_dat`` as datetime64."""
    df = lake.read(schema.TRANSACTIONS, columns=schema.TRANSACTION_COLUMNS).to_pandas()
    df[schema.T_DAT] = pd.to_datetime(df[schema.T_DAT])
    return df[df[schema.T_DAT] < pd.Timestamp(cutoff)].reset_index(drop=True)


def _frame(features: Path, entity: str, cutoff: dt.date) -> pd.DataFrame:
    """A snapshot as pandas, indexed by its entity id."""
    key = schema.CUSTOMER_ID if entity == "customer" else schema.ARTICLE_ID
    return read_snapshot(features, entity, cutoff).to_pandas().set_index(key)


def _in_window(tx: pd.DataFrame, cutoff: dt.date, window: str) -> pd.DataFrame:
    """Rows of ``tx`` inside ``window`` before ``cutoff``."""
    days = WINDOWS[window]
    if days is None:
        return tx
    return tx[tx[schema.T_DAT] >= pd.Timestamp(cutoff - dt.timedelta(days=days))]


@pytest.mark.parametrize("entity", ["customer", "article"])
def test_schema_is_the_spec(built: Path, cutoff: dt.date, entity: str) -> None:
    table = pq.read_table(snapshot_path(built, entity, cutoff))
    specs = customer_features() if entity == "customer" else article_features()
    key = schema.CUSTOMER_ID if entity == "customer" else schema.ARTICLE_ID
    assert table.schema.names == [key, schema.EVENT_TIMESTAMP, *(s.name for s in specs)]
    assert [f.type for f in table.schema][2:] == [s.dtype for s in specs]
    assert str(table.schema.field(key).type) == ("int64" if entity == "customer" else "int32")
    assert str(table.schema.field(schema.EVENT_TIMESTAMP).type) == "timestamp[us, tz=UTC]"
    assert read_snapshot(built, entity, cutoff).schema.equals(snapshot_schema(entity))


def test_one_row_per_customer_and_article(built: Path, lake: Lake, cutoff: dt.date) -> None:
    customers = read_snapshot(built, "customer", cutoff).column(schema.CUSTOMER_ID).to_pylist()
    articles = read_snapshot(built, "article", cutoff).column(schema.ARTICLE_ID).to_pylist()
    lake_customers = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).column(0).to_pylist()
    lake_articles = lake.read(schema.ARTICLES, [schema.ARTICLE_ID]).column(0).to_pylist()
    assert sorted(customers) == sorted(lake_customers) and len(set(customers)) == len(customers)
    assert sorted(articles) == sorted(lake_articles) and len(set(articles)) == len(articles)


def test_event_timestamp_is_the_cutoff_at_midnight_utc(built: Path, cutoff: dt.date) -> None:
    ts = read_snapshot(built, "article", cutoff).column(schema.EVENT_TIMESTAMP).unique()
    assert ts.to_pylist() == [dt.datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=dt.UTC)]


def test_customer_counts_and_spend_match_pandas(
    built: Path, tx: pd.DataFrame, cutoff: dt.date
) -> None:
    snap = _frame(built, "customer", cutoff)
    for w in WINDOWS:
        rows = _in_window(tx, cutoff, w).groupby(schema.CUSTOMER_ID)
        n_tx = rows.size().reindex(snap.index, fill_value=0)
        spend = rows[schema.PRICE].sum().reindex(snap.index, fill_value=0.0)
        arts = rows[schema.ARTICLE_ID].nunique().reindex(snap.index, fill_value=0)
        days = rows[schema.T_DAT].nunique().reindex(snap.index, fill_value=0)
        assert (snap[f"c_n_tx_{w}"] == n_tx).all(), w
        assert (snap[f"c_n_articles_{w}"] == arts).all(), w
        assert (snap[f"c_active_days_{w}"] == days).all(), w
        np.testing.assert_allclose(snap[f"c_spend_{w}"], spend, rtol=1e-5)


def test_customer_days_since_and_cold_start(built: Path, tx: pd.DataFrame, cutoff: dt.date) -> None:
    snap = _frame(built, "customer", cutoff)
    last = tx.groupby(schema.CUSTOMER_ID)[schema.T_DAT].max()
    expected = (pd.Timestamp(cutoff) - last).dt.days
    assert (snap.loc[expected.index, "c_days_since_last"] == expected).all()
    cold = snap.index.difference(last.index)
    assert len(cold) > 0, "the tiny world should have customers without purchases"
    assert (snap.loc[cold, "c_n_tx_all"] == 0).all()
    assert snap.loc[cold, ["c_days_since_last", "c_mean_price_all"]].isna().all().all()
    assert snap.loc[cold, "c_repurchase_ratio_all"].isna().all()


def test_repurchase_ratio_matches_pandas(built: Path, tx: pd.DataFrame, cutoff: dt.date) -> None:
    snap = _frame(built, "customer", cutoff)
    first = tx.groupby([schema.CUSTOMER_ID, schema.ARTICLE_ID])[schema.T_DAT].transform("min")
    tx = tx.assign(repeat=(tx[schema.T_DAT] > first).astype(float))
    for w in ("4w", "all"):
        ref = _in_window(tx, cutoff, w).groupby(schema.CUSTOMER_ID)["repeat"].mean()
        got = snap.loc[ref.index, f"c_repurchase_ratio_{w}"]
        np.testing.assert_allclose(got, ref, rtol=1e-6)
    assert tx["repeat"].sum() > 0, "the tiny world should have repurchases"


def test_price_ratio_matches_pandas(built: Path, tx: pd.DataFrame, cutoff: dt.date) -> None:
    snap = _frame(built, "customer", cutoff)
    mean = tx.groupby(schema.ARTICLE_ID)[schema.PRICE].transform("mean")
    tx = tx.assign(r=tx[schema.PRICE].astype(float) / mean)
    ref = _in_window(tx, cutoff, "13w").groupby(schema.CUSTOMER_ID)["r"].mean()
    np.testing.assert_allclose(snap.loc[ref.index, "c_price_ratio_13w"], ref, rtol=1e-5)


def test_article_sales_match_pandas(built: Path, tx: pd.DataFrame, cutoff: dt.date) -> None:
    snap = _frame(built, "article", cutoff)
    for w in ("1w", "13w", "all"):
        rows = _in_window(tx, cutoff, w).groupby(schema.ARTICLE_ID)
        units = rows.size().reindex(snap.index, fill_value=0)
        buyers = rows[schema.CUSTOMER_ID].nunique().reindex(snap.index, fill_value=0)
        assert (snap[f"a_units_{w}"] == units).all(), w
        assert (snap[f"a_buyers_{w}"] == buyers).all(), w
    last_day = tx.groupby(schema.ARTICLE_ID)[schema.T_DAT].transform("max")
    latest = tx[tx[schema.T_DAT] == last_day].groupby(schema.ARTICLE_ID)[schema.PRICE].mean()
    np.testing.assert_allclose(snap.loc[latest.index, "a_latest_price"], latest, rtol=1e-5)
    top = tx.groupby(schema.ARTICLE_ID)[schema.PRICE].max()
    np.testing.assert_allclose(snap.loc[top.index, "a_max_price"], top, rtol=1e-6)
    unsold = snap.index.difference(top.index)
    assert snap.loc[unsold, ["a_latest_price", "a_rank_in_type_4w"]].isna().all().all()


def test_article_trend_and_rank(built: Path, tx: pd.DataFrame, cutoff: dt.date) -> None:
    snap = _frame(built, "article", cutoff)
    day = tx[schema.T_DAT]
    last = tx[day >= pd.Timestamp(cutoff - dt.timedelta(days=7))].groupby(schema.ARTICLE_ID).size()
    base_rows = (day >= pd.Timestamp(cutoff - dt.timedelta(days=28))) & (
        day < pd.Timestamp(cutoff - dt.timedelta(days=7))
    )
    base = tx[base_rows].groupby(schema.ARTICLE_ID).size()
    ref = (last.reindex(base.index, fill_value=0) / (base / 3)).dropna()
    np.testing.assert_allclose(snap.loc[ref.index, "a_trend"], ref, rtol=1e-5)
    sold = snap[snap["a_units_4w"] > 0]
    ranks = sold.groupby("a_product_type_no")["a_units_4w"].rank(method="dense", ascending=False)
    assert (sold["a_rank_in_type_4w"] == ranks).all()


def test_missing_snapshot_names_the_file(tmp_path: Path) -> None:
    day = dt.date(2020, 9, 23)
    with pytest.raises(SnapshotError, match=str(snapshot_path(tmp_path, "customer", day))):
        read_snapshot(tmp_path, "customer", day)
    with pytest.raises(FileNotFoundError):
        read_snapshot(tmp_path, "article", day)


def test_invalid_snapshot_names_the_file(built: Path, cutoff: dt.date, tmp_path: Path) -> None:
    table = pq.read_table(snapshot_path(built, "article", cutoff)).drop_columns(["a_trend"])
    bad = snapshot_path(tmp_path, "article", cutoff)
    bad.parent.mkdir(parents=True)
    pq.write_table(table, bad)
    with pytest.raises(SnapshotError, match=str(bad)):
        read_snapshot(tmp_path, "article", cutoff)


def test_category_shares_and_channels_match_pandas(
    built: Path, lake: Lake, tx: pd.DataFrame, cutoff: dt.date
) -> None:
    snap = _frame(built, "customer", cutoff)
    articles = lake.read(schema.ARTICLES, [schema.ARTICLE_ID, "product_group_name"]).to_pandas()
    groups = articles.set_index(schema.ARTICLE_ID)["product_group_name"]
    known = {g: slug(g) for g in PRODUCT_GROUPS}
    tx = tx.assign(pg=tx[schema.ARTICLE_ID].map(groups).map(known).fillna("other"))
    rows = _in_window(tx, cutoff, "13w")
    share = pd.crosstab(rows[schema.CUSTOMER_ID], rows["pg"], normalize="index")
    for g in share.columns:
        np.testing.assert_allclose(
            snap.loc[share.index, f"c_share_pg_{g}_13w"], share[g], rtol=1e-6
        )
    pg_cols = [c for c in snap.columns if c.startswith("c_share_pg_") and c.endswith("_13w")]
    buyers = snap[snap["c_n_tx_13w"] > 0]
    np.testing.assert_allclose(buyers[pg_cols].sum(axis=1), 1.0, rtol=1e-5)
    assert snap.loc[snap["c_n_tx_13w"] == 0, pg_cols].isna().all().all()
    by_customer = tx.groupby(schema.CUSTOMER_ID)[schema.SALES_CHANNEL_ID]
    channels = by_customer.nunique()
    online = by_customer.apply(lambda s: (s == 2).mean())
    assert (snap.loc[channels.index, "c_n_channels_all"] == channels).all()
    np.testing.assert_allclose(snap.loc[online.index, "c_ch2_share_all"], online, rtol=1e-6)


def test_profile_features(built: Path, lake: Lake, cutoff: dt.date) -> None:
    snap = _frame(built, "customer", cutoff)
    customers = lake.read(schema.CUSTOMERS).to_pandas().set_index(schema.CUSTOMER_ID)
    age = customers["age"].reindex(snap.index)
    expected = np.select(
        [age.isna(), *(age < b for b in AGE_BUCKETS[1:])],
        [-1, *range(len(AGE_BUCKETS) - 1)],
        default=len(AGE_BUCKETS) - 1,
    )
    assert (snap["c_age_bucket"].to_numpy() == expected).all()
    assert snap["c_club_member_status"].equals(customers["club_member_status"].reindex(snap.index))
