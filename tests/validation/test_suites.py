"""The three suites: what they check, and that each kind of bad value is caught and located."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from validation_frames import (
    ARTICLE_IDS,
    HEXES,
    hex_to_int64,
    make_articles,
    make_customers,
    make_transactions,
)

from recsys import schema
from recsys.settings import Settings
from recsys.validation import Failure, ValidationReport, validate_tables
from recsys.validation.suites import (
    ARTICLE_CODE_COLUMNS,
    EXPECTED_COLUMNS,
    HELPER_COLUMNS,
    REFERENCES,
    build_suite,
)

TX, CU, AR = schema.TRANSACTIONS_FILE, schema.CUSTOMERS_FILE, schema.ARTICLES_FILE
UNKNOWN_HEX = "ff" * 32


def bad_tables() -> dict[str, pd.DataFrame]:
    """Good frames with one defect per line (see BAD_VALUES)."""
    articles, customers, transactions = make_articles(), make_customers(), make_transactions()
    articles.loc[4, schema.ARTICLE_ID] = articles.loc[2, schema.ARTICLE_ID]
    customers.loc[5, [schema.CUSTOMER_ID, schema.CUSTOMER_HEX]] = [hex_to_int64(HEXES[0]), HEXES[0]]
    customers.loc[3, "club_member_status"] = "GOLD"
    customers.loc[4, "age"] = 3.0
    transactions.loc[2, schema.PRICE] = -0.5
    transactions.loc[3, schema.PRICE] = 999.0
    transactions.loc[4, schema.ARTICLE_ID] = 999
    transactions.loc[5, schema.CUSTOMER_ID] = hex_to_int64(UNKNOWN_HEX)
    transactions.loc[6, schema.T_DAT] = pd.Timestamp("2031-01-01")
    transactions.loc[7, schema.T_DAT] = pd.Timestamp("1999-12-31")
    transactions.loc[8, schema.SALES_CHANNEL_ID] = 3
    return {
        schema.ARTICLES: articles,
        schema.CUSTOMERS: customers,
        schema.TRANSACTIONS: transactions,
    }


# kind -> (file, column, GE expectation, CSV line expected among the examples)
BAD_VALUES = {
    "negative price": (TX, "price", "expect_column_values_to_be_between", 2),
    "absurd price": (TX, "price", "expect_column_values_to_be_between", 3),
    "unknown article": (TX, "article_id", "expect_column_values_to_be_in_set", 4),
    "unknown customer": (TX, "customer_id", "expect_column_values_to_be_in_set", 5),
    "future date": (TX, "t_dat", "expect_column_values_to_be_between", 6),
    "date before date_min": (TX, "t_dat", "expect_column_values_to_be_between", 7),
    "channel 3": (TX, "sales_channel_id", "expect_column_values_to_be_in_set", 8),
    "duplicate customer hex": (CU, "customer_hex", "expect_column_values_to_be_unique", 5),
    "duplicate customer id": (CU, "customer_id", "expect_column_values_to_be_unique", 5),
    "bad club status": (CU, "club_member_status", "expect_column_values_to_be_in_set", 3),
    "age 3": (CU, "age", "expect_column_values_to_be_between", 4),
    "duplicate article id": (AR, "article_id", "expect_column_values_to_be_unique", 4),
}


@pytest.fixture(scope="module")
def bad_report(tmp_path_factory: pytest.TempPathFactory) -> ValidationReport:
    """One run over frames carrying every defect of BAD_VALUES."""
    settings = Settings(date_max=dt.date(2020, 9, 22))
    return validate_tables(bad_tables(), tmp_path_factory.mktemp("bad"), settings)


def find(report: ValidationReport, file: str, column: str | None, expectation: str) -> Failure:
    """The failure for (file, column, expectation); fails the test when there is none."""
    hits = [
        f
        for f in report.failures
        if (f.file, f.column, f.expectation) == (file, column, expectation)
    ]
    assert len(hits) == 1, f"no single failure {file}/{column}/{expectation}:\n{report.failures}"
    return hits[0]


@pytest.mark.parametrize("kind", list(BAD_VALUES))
def test_bad_value_is_reported_with_file_column_and_line(
    bad_report: ValidationReport, kind: str
) -> None:
    file, column, expectation, line = BAD_VALUES[kind]
    failure = find(bad_report, file, column, expectation)
    assert line in [example["line"] for example in failure.examples], kind
    assert failure.unexpected_count and failure.unexpected_count >= 1
    assert f"line {line}:" in bad_report.describe_failures()


def test_bad_report_fails_exactly_the_planted_expectations(bad_report: ValidationReport) -> None:
    planted = {(f, c, e) for f, c, e, _ in BAD_VALUES.values()}
    assert {(f.file, f.column, f.expectation) for f in bad_report.failures} == planted
    assert not bad_report.success
    assert [t.success for t in bad_report.tables] == [False, False, False]


def test_examples_show_offending_values_not_helper_flags(bad_report: ValidationReport) -> None:
    unknown_article = find(bad_report, TX, "article_id", "expect_column_values_to_be_in_set")
    # line 5's article lost its catalogue row to the duplicated id planted in articles.csv
    rows = [(r["line"], r["article_id"]) for r in unknown_article.examples]
    assert rows == [(4, 999), (5, ARTICLE_IDS[2])]
    assert not HELPER_COLUMNS & set(unknown_article.examples[0])
    unknown_customer = find(bad_report, TX, "customer_id", "expect_column_values_to_be_in_set")
    assert unknown_customer.examples[0]["customer_id"] == "..." + UNKNOWN_HEX[-16:]
    price = find(bad_report, TX, "price", "expect_column_values_to_be_between")
    assert [(r["line"], r["price"]) for r in price.examples] == [(2, -0.5), (3, 999.0)]
    assert price.examples[0]["customer_id"] == HEXES[0]  # known customers show their raw hex
    assert price.examples[0]["t_dat"] == "2018-09-20"
    assert price.description == "price must be in (0.0, 1.0]"


def test_duplicate_hex_shows_both_lines(bad_report: ValidationReport) -> None:
    failure = find(bad_report, CU, "customer_hex", "expect_column_values_to_be_unique")
    assert [r["line"] for r in failure.examples] == [2, 5]
    assert {r["customer_id"] for r in failure.examples} == {HEXES[0]}


def test_int64_id_collision_fails_clearly(tmp_path: Path, settings: Settings) -> None:
    customers = make_customers()
    twin = "00" * 24 + HEXES[1][-16:]  # another raw id with the same last 16 hex digits
    customers.loc[4, [schema.CUSTOMER_ID, schema.CUSTOMER_HEX]] = [hex_to_int64(twin), twin]
    report = validate_tables({schema.CUSTOMERS: customers}, tmp_path, settings)
    failure = find(report, CU, "customer_id", "expect_column_values_to_be_unique")
    assert [r["customer_id"] for r in failure.examples] == [HEXES[1], twin]
    assert "last 16 hex digits" in failure.description
    assert [(f.column, f.expectation) for f in report.failures] == [
        ("customer_id", "expect_column_values_to_be_unique")
    ]


def test_missing_column_is_a_failure_not_a_crash(tmp_path: Path, settings: Settings) -> None:
    transactions = make_transactions().drop(columns=[schema.PRICE])
    report = validate_tables({schema.TRANSACTIONS: transactions}, tmp_path, settings)
    columns = find(report, TX, None, "expect_table_columns_to_match_set")
    assert columns.observed == "missing: price"
    assert not report.success
    assert "columns must be exactly: t_dat, customer_id, article_id" in report.describe_failures()


def test_extra_column_is_reported(tmp_path: Path, settings: Settings) -> None:
    articles = make_articles().assign(colour="red")
    report = validate_tables({schema.ARTICLES: articles}, tmp_path, settings)
    columns = find(report, AR, None, "expect_table_columns_to_match_set")
    assert columns.observed == "unexpected: colour"


def test_references_run_only_with_the_referenced_table(tmp_path: Path, settings: Settings) -> None:
    transactions = make_transactions()
    transactions.loc[4, schema.ARTICLE_ID] = 999
    transactions.loc[5, schema.CUSTOMER_ID] = hex_to_int64(UNKNOWN_HEX)
    tables = {schema.TRANSACTIONS: transactions, schema.CUSTOMERS: make_customers()}
    raw = {schema.TRANSACTIONS: Path("/raw/tx_2020.csv")}
    report = validate_tables(tables, tmp_path, settings, raw_files=raw)
    assert [(f.file, f.column) for f in report.failures] == [("tx_2020.csv", "customer_id")]
    assert [t.file for t in report.tables] == [CU, "tx_2020.csv"]


@pytest.mark.parametrize("kind", ["object", "datetime64[ms]", "arrow"])
def test_dates_in_other_types(tmp_path: Path, settings: Settings, kind: str) -> None:
    transactions = make_transactions()
    days = list(transactions[schema.T_DAT].dt.date)
    days[2], days[5] = dt.date(3000, 1, 1), dt.date(2020, 9, 23)
    dtypes = {"object": object, "datetime64[ms]": "datetime64[ms]", "arrow": "date32[pyarrow]"}
    column = pd.Series(days, index=transactions.index, dtype=object).astype(dtypes[kind])
    transactions[schema.T_DAT] = column
    report = validate_tables({schema.TRANSACTIONS: transactions}, tmp_path, settings)
    failure = find(report, TX, "t_dat", "expect_column_values_to_be_between")
    rows = [(r["line"], r["t_dat"]) for r in failure.examples]
    assert rows == [(4, "3000-01-01"), (7, "2020-09-23")]
    assert len(report.failures) == 1


def test_named_line_index(tmp_path: Path, settings: Settings) -> None:
    transactions = make_transactions()
    transactions.index = transactions.index.rename("line")
    transactions.loc[3, schema.PRICE] = -1.0
    report = validate_tables({schema.TRANSACTIONS: transactions}, tmp_path, settings)
    failure = find(report, TX, "price", "expect_column_values_to_be_between")
    assert [(r["line"], r["price"]) for r in failure.examples] == [(3, -1.0)]


def test_unknown_table_name_is_rejected(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown tables"):
        validate_tables({"transaction": make_transactions()}, tmp_path, settings)


def test_caller_frames_are_not_modified(tmp_path: Path, settings: Settings) -> None:
    tables = bad_tables()
    before = {name: frame.copy() for name, frame in tables.items()}
    validate_tables(tables, tmp_path, settings)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_suites_cover_the_schema(settings: Settings) -> None:
    pytest.importorskip("great_expectations")
    articles = build_suite(schema.ARTICLES, settings)
    between = {e.column: e.min_value for e in articles.expectations if hasattr(e, "min_value")}
    assert all(between[c] == -1 for c in ARTICLE_CODE_COLUMNS)  # real data codes unknown as -1
    not_null = {e.column for e in articles.expectations if e.expectation_type.endswith("be_null")}
    assert not_null == set(schema.ARTICLE_COLUMNS) - {"detail_desc"}
    flags = tuple(ref.flag for ref in REFERENCES)
    transactions = build_suite(schema.TRANSACTIONS, settings, flags)
    column_set = transactions.expectations[0].column_set
    assert set(column_set) == set(EXPECTED_COLUMNS[schema.TRANSACTIONS]) | set(flags)
    assert not any(len(getattr(e, "value_set", None) or ()) > 10 for e in transactions.expectations)


def load_real_sample(folder: Path) -> dict[str, pd.DataFrame]:
    """Typed frames from the real Kaggle sample, indexed by CSV line number."""
    articles = pd.read_csv(folder / AR, dtype={schema.ARTICLE_ID: np.int32})
    int_columns = [f.name for f in schema.ARTICLE_SCHEMA if str(f.type) == "int32"]
    articles = articles.astype({c: np.int32 for c in int_columns})
    customers = pd.read_csv(folder / CU, dtype={"FN": np.float32, "Active": np.float32})
    customers["age"] = customers["age"].astype(np.float32)
    customers[schema.CUSTOMER_HEX] = customers[schema.CUSTOMER_ID]
    customers[schema.CUSTOMER_ID] = customers[schema.CUSTOMER_HEX].map(hex_to_int64)
    transactions = pd.read_csv(folder / TX, parse_dates=[schema.T_DAT])
    transactions[schema.CUSTOMER_ID] = transactions[schema.CUSTOMER_ID].map(hex_to_int64)
    transactions = transactions.astype(
        {schema.ARTICLE_ID: np.int32, schema.PRICE: np.float32, schema.SALES_CHANNEL_ID: np.int8}
    )
    tables = {
        schema.ARTICLES: articles,
        schema.CUSTOMERS: customers,
        schema.TRANSACTIONS: transactions,
    }
    for frame in tables.values():
        frame.index = pd.RangeIndex(2, len(frame) + 2)
    return tables


def test_real_sample_passes(tmp_path: Path, settings: Settings, real_data: Path) -> None:
    report = validate_tables(load_real_sample(real_data / "sample_1364"), tmp_path, settings)
    assert report.success, report.describe_failures()
    assert [t.n_rows for t in report.tables] == [17033, 1364, 31662]
