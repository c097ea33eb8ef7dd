"""The synthetic H&M world (``hm generate``): Kaggle's byte format and H&M-like structure (tiny)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest

from recsys import schema
from recsys.data.synthetic import SCALES, ScaleConfig, WorldSummary, generate_world
from recsys.data.synthetic.pricing import price_text
from recsys.data.synthetic.taxonomy import TAXONOMY_PATH, load_taxonomy

SEED = 7
HEX64 = re.compile(r"[0-9a-f]{64}")
TINY = SCALES["tiny"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> WorldSummary:
    """One tiny world shared by the module."""
    return generate_world("tiny", SEED, tmp_path_factory.mktemp("tiny"), progress=False)


@pytest.fixture(scope="module")
def tx(world: WorldSummary) -> pd.DataFrame:
    """transactions_train.csv, every column as text."""
    return pd.read_csv(world.out_dir / schema.TRANSACTIONS_FILE, dtype=str)


@pytest.fixture(scope="module")
def articles(world: WorldSummary) -> pd.DataFrame:
    """articles.csv, every column as text (empty fields as NaN)."""
    return pd.read_csv(world.out_dir / schema.ARTICLES_FILE, dtype=str)


@pytest.fixture(scope="module")
def customers(world: WorldSummary) -> pd.DataFrame:
    """customers.csv, every column as text (empty fields as NaN)."""
    return pd.read_csv(world.out_dir / schema.CUSTOMERS_FILE, dtype=str)


def _bytes(folder: Path) -> dict[str, bytes]:
    """The three files' bytes."""
    return {name: (folder / name).read_bytes() for name in schema.RAW_FILES}


def test_summary_matches_files(world: WorldSummary, tx: pd.DataFrame) -> None:
    assert world.n_transactions == len(tx)
    assert world.n_customers == TINY.n_customers
    assert 0.8 * TINY.n_articles <= world.n_articles <= 1.2 * TINY.n_articles
    assert 0.8 * TINY.n_transactions <= world.n_transactions <= 1.2 * TINY.n_transactions
    assert world.first_date == dt.date.fromisoformat(tx.t_dat.iloc[0])
    assert world.last_date == dt.date.fromisoformat(tx.t_dat.iloc[-1])
    assert world.seconds < 10


def test_headers_in_kaggle_order(world: WorldSummary) -> None:
    for name, columns in schema.RAW_COLUMNS.items():
        with open(world.out_dir / name, encoding="utf-8") as f:
            assert f.readline() == ",".join(columns) + "\n"


def test_transaction_line_format(world: WorldSummary) -> None:
    line = re.compile(r"\d{4}-\d{2}-\d{2},[0-9a-f]{64},\d{10},0\.\d+,[12]")
    lines = (world.out_dir / schema.TRANSACTIONS_FILE).read_text().splitlines()[1:]
    assert all(line.fullmatch(x) for x in lines)


def test_ids_and_keys(tx: pd.DataFrame, articles: pd.DataFrame, customers: pd.DataFrame) -> None:
    assert customers.customer_id.str.fullmatch(HEX64).all()
    assert customers.customer_id.is_unique
    assert customers.customer_id.str[-16:].is_unique  # the lake's int64 key
    assert customers.customer_id.is_monotonic_increasing
    assert customers.postal_code.str.fullmatch(HEX64).all()
    assert articles.article_id.str.fullmatch(r"\d{10}").all()
    assert articles.article_id.is_unique and articles.article_id.is_monotonic_increasing
    codes = articles.article_id.astype(int) // 1000
    assert (codes == articles.product_code.astype(int)).all()
    assert set(tx.article_id) <= set(articles.article_id)
    assert set(tx.customer_id) <= set(customers.customer_id)


def test_dates_sorted_and_in_range(tx: pd.DataFrame) -> None:
    days = pd.to_datetime(tx.t_dat, format="%Y-%m-%d")
    assert days.is_monotonic_increasing
    assert days.min().date() >= TINY.start_date
    assert days.max().date() <= TINY.end_date
    assert TINY.start_date.weekday() == 2 and TINY.end_date.weekday() == 1
    assert days.dt.date.map(schema.week_end).nunique() == TINY.n_weeks


def test_rows_grouped_by_customer_within_day(tx: pd.DataFrame) -> None:
    key = tx.t_dat + tx.customer_id
    assert key.is_monotonic_increasing


def test_prices_like_kaggle(tx: pd.DataFrame) -> None:
    assert price_text(2999) == "0.0508305084745762"
    assert price_text(1349) == "0.022864406779661"
    price = tx.price.astype(float)
    assert (price > 0).all() and (price < 1).all()
    assert (tx.price == price.map(repr)).all()  # Python float repr
    sek = (price * 590).round(2)
    assert ((sek * 100).round() % 100 == 99).mean() > 0.6  # mostly .99 price points
    assert price.nunique() > 20


def test_article_taxonomy_consistent(articles: pd.DataFrame) -> None:
    pairs = [
        ("product_type_no", "product_type_name"),
        ("product_type_no", "product_group_name"),
        ("colour_group_code", "colour_group_name"),
        ("graphical_appearance_no", "graphical_appearance_name"),
        ("department_no", "department_name"),
        ("department_no", "section_no"),
        ("department_no", "index_code"),
        ("department_no", "garment_group_no"),
        ("index_code", "index_group_no"),
        ("section_no", "section_name"),
        ("garment_group_no", "garment_group_name"),
        ("perceived_colour_master_id", "perceived_colour_master_name"),
        ("product_code", "prod_name"),
        ("product_code", "detail_desc"),
    ]
    for key, value in pairs:
        assert (articles.groupby(key)[value].nunique(dropna=False) == 1).all(), (key, value)
    assert set(articles.index_code) <= set(schema.INDEX_CODES)


def test_articles_quoting_and_text(world: WorldSummary, articles: pd.DataFrame) -> None:
    raw = (world.out_dir / schema.ARTICLES_FILE).read_text(encoding="utf-8")
    assert '"' in raw  # descriptions with commas are quoted ...
    assert raw.splitlines()[1].split(",")[0].isdigit()  # ... plain values are not
    desc = articles.detail_desc.dropna()
    assert desc.str.len().median() > 40
    assert articles.detail_desc.isna().mean() < 0.05
    trousers = articles[articles.product_type_name == "Trousers"]
    if len(trousers):
        assert trousers.detail_desc.str.contains("trousers|Trousers|joggers|jeans").mean() > 0.3


def test_customers_columns(customers: pd.DataFrame) -> None:
    assert set(customers.FN.dropna()) == {"1.0"}
    assert set(customers.Active.dropna()) == {"1.0"}
    assert 0.5 < customers.FN.isna().mean() < 0.8
    assert 0.5 < customers.Active.isna().mean() < 0.8
    assert set(customers.club_member_status.dropna()) <= set(schema.CLUB_MEMBER_STATUSES)
    news = set(customers.fashion_news_frequency.dropna())
    assert news <= set(schema.FASHION_NEWS_FREQUENCIES)
    age = customers.age.dropna()
    assert age.str.fullmatch(r"\d+\.0").all()
    assert 0.001 < customers.age.isna().mean() < 0.05
    assert customers.postal_code.value_counts().iloc[0] > 20  # a shared default postal code


def test_parses_with_pyarrow(world: WorldSummary) -> None:
    tx = pacsv.read_csv(world.out_dir / schema.TRANSACTIONS_FILE)
    assert tx.column_names == schema.TRANSACTION_COLUMNS
    assert tx.num_rows == world.n_transactions
    arts = pacsv.read_csv(world.out_dir / schema.ARTICLES_FILE)
    assert arts.column_names == schema.ARTICLE_COLUMNS and arts.num_rows == world.n_articles
    cust = pacsv.read_csv(world.out_dir / schema.CUSTOMERS_FILE)
    assert cust.column_names == schema.CUSTOMER_COLUMNS and cust.num_rows == world.n_customers


def test_parses_with_pandas_defaults(world: WorldSummary) -> None:
    tx = pd.read_csv(world.out_dir / schema.TRANSACTIONS_FILE)
    assert tx.price.dtype == np.float64 and set(tx.sales_channel_id) == {1, 2}
    arts = pd.read_csv(world.out_dir / schema.ARTICLES_FILE)
    assert list(arts.columns) == schema.ARTICLE_COLUMNS
    cust = pd.read_csv(world.out_dir / schema.CUSTOMERS_FILE)
    assert cust.age.dtype == np.float64 and cust.FN.dtype == np.float64


def test_deterministic_per_seed(world: WorldSummary, tmp_path: Path) -> None:
    again = generate_world("tiny", SEED, tmp_path / "same", progress=False)
    assert _bytes(again.out_dir) == _bytes(world.out_dir)
    other = generate_world("tiny", SEED + 1, tmp_path / "other", progress=False)
    other_bytes, base = _bytes(other.out_dir), _bytes(world.out_dir)
    assert all(other_bytes[name] != base[name] for name in schema.RAW_FILES)


def test_custom_scale_and_bad_inputs(tmp_path: Path) -> None:
    cfg = dataclasses.replace(TINY, name="micro", n_customers=200, n_transactions=2_000, n_weeks=6)
    summary = generate_world(cfg, 1, tmp_path / "micro", progress=False)
    assert summary.n_customers == 200 and summary.n_transactions > 0
    assert summary.last_date <= cfg.end_date and summary.first_date >= cfg.start_date
    with pytest.raises(ValueError, match="unknown scale"):
        generate_world("huge", 1, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="Tuesday"):
        ScaleConfig("bad", 10, 10, 10, 2, end_date=dt.date(2020, 9, 23))


def test_scales() -> None:
    assert list(SCALES) == ["tiny", "small", "medium", "full"]
    assert SCALES["full"].n_weeks == SCALES["medium"].n_weeks == SCALES["small"].n_weeks == 105
    assert SCALES["full"].start_date == dt.date(2018, 9, 19)
    assert all(s.end_date == dt.date(2020, 9, 22) for s in SCALES.values())


def test_taxonomy_is_compact() -> None:
    assert TAXONOMY_PATH.stat().st_size < 80_000
    tax = load_taxonomy()
    assert len(tax.departments) > 100 and len(tax.type_no) > 50
    assert tax.colour_name[tax.colour_sales_share.argmax()] == "Black"


# --- H&M-like structure ------------------------------------------------------------------------


def test_channel_share(tx: pd.DataFrame) -> None:
    share = (tx.sales_channel_id == "2").mean()
    assert 0.6 <= share <= 0.8
    per_customer = (tx.sales_channel_id == "2").groupby(tx.customer_id).mean()
    assert ((per_customer < 0.2) | (per_customer > 0.8)).mean() > 0.5  # customer-level habit


def test_duplicate_rows_for_multi_unit_buys(tx: pd.DataFrame) -> None:
    assert 0.03 <= tx.duplicated().mean() <= 0.2


def test_repurchases_within_three_weeks(tx: pd.DataFrame) -> None:
    rows = tx.drop_duplicates().assign(day=pd.to_datetime(tx.t_dat))
    rows = rows.sort_values(["customer_id", "article_id", "day"])
    gap = rows.groupby(["customer_id", "article_id"]).day.diff().dt.days
    share = ((gap > 0) & (gap <= 21)).sum() / len(tx)
    assert 0.01 <= share <= 0.3


def test_bimodal_ages(customers: pd.DataFrame) -> None:
    age = customers.age.dropna().astype(float)
    uniform_band = 10 / (100 - 16)  # ages run 16..99
    young, older = age.between(20, 29.9).mean(), age.between(45, 54.9).mean()
    middle = age.between(34, 43.9).mean()
    assert young > 2 * uniform_band and older > 1.3 * uniform_band
    assert young > middle and older > middle


def test_colour_variants_and_black(tx: pd.DataFrame, articles: pd.DataFrame) -> None:
    variants = articles.groupby("product_code").size()
    assert (variants > 1).mean() > 0.3 and variants.max() >= 4
    colours = articles.groupby("product_code").colour_group_code.nunique()
    assert (colours > 1).mean() > 0.3
    sold = tx.merge(articles, on=schema.ARTICLE_ID).colour_group_name.value_counts(normalize=True)
    assert sold.index[0] == "Black" and sold.iloc[0] > 0.2


def test_heavy_tailed_activity_and_non_buyers(tx: pd.DataFrame, customers: pd.DataFrame) -> None:
    per_customer = tx.groupby("customer_id").size()
    assert per_customer.max() > 10 * per_customer.median()
    assert (per_customer <= 2).mean() > 0.05
    assert 0 < len(customers) - len(per_customer) < 0.5 * len(customers)


def test_baskets(tx: pd.DataFrame) -> None:
    per_day = tx.groupby(["customer_id", "t_dat"]).size()
    assert 2 <= per_day.mean() <= 5 and (per_day == 1).mean() > 0.15


def test_history_predicts_department(tx: pd.DataFrame, articles: pd.DataFrame) -> None:
    """A customer's past department mix predicts the last month far better than the global mix."""
    rows = tx.merge(articles, on=schema.ARTICLE_ID)[["customer_id", "t_dat", "department_no"]]
    cut = rows.t_dat.max()[:7]  # the last month versus the months before
    past, future = rows[rows.t_dat < cut], rows[rows.t_dat >= cut]
    future = future[future.customer_id.isin(past.customer_id)]
    personal = past.groupby("customer_id").department_no.value_counts(normalize=True)
    keys = list(zip(future.customer_id, future.department_no, strict=True))
    p_personal = personal.reindex(keys).fillna(0).mean()
    p_global = past.department_no.value_counts(normalize=True).reindex(future.department_no)
    assert p_personal > 1.5 * p_global.fillna(0).mean()


def test_markdowns_lower_prices(tx: pd.DataFrame) -> None:
    price = tx.price.astype(float)
    spread = price.groupby(tx.article_id).agg(["min", "max"])
    assert (spread["min"] < 0.8 * spread["max"]).mean() > 0.05
