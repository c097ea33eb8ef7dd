"""Ingest: raw CSV -> validated, typed, weekly lake; bad input never reaches the lake."""

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recsys import schema
from recsys.data.errors import RawDataError, ValidationFailed
from recsys.data.ids import key_to_hex_suffix
from recsys.data.ingest import ingest
from recsys.data.lake import Lake


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def set_cell(path: Path, line: int, column: str, value: str) -> None:
    """Rewrite one cell of a CSV file (line numbers as an editor shows them)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[line - 1][rows[0].index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def test_lake_holds_typed_tables_matching_the_csvs(published_home, tiny_world):
    lake = Lake(published_home / "lake")
    manifest = lake.manifest()
    for table, spec_file in [
        (schema.TRANSACTIONS, schema.TRANSACTIONS_FILE),
        (schema.ARTICLES, schema.ARTICLES_FILE),
        (schema.CUSTOMERS, schema.CUSTOMERS_FILE),
    ]:
        n_csv = sum(1 for _ in csv.reader(io.StringIO((tiny_world / spec_file).read_text()))) - 1
        assert manifest["rows"][table] == n_csv == lake.read(table).num_rows
    tx = lake.read(schema.TRANSACTIONS)
    assert tx.schema.field(schema.CUSTOMER_ID).type == "int64"
    assert tx.schema.field(schema.ARTICLE_ID).type == "int32"
    assert tx.schema.field(schema.PRICE).type == "float"
    assert tx.schema.field(schema.SALES_CHANNEL_ID).type == "int8"
    assert len(lake.weeks()) >= 20
    assert manifest["validation"]["success"] is True


def test_customer_mapping_is_reversible(published_home, tiny_world):
    customers = pq.read_table(Lake(published_home / "lake").current_dir() / "customers.parquet")
    raw_ids = [row.split(",")[0] for row in lines(tiny_world / schema.CUSTOMERS_FILE)[1:]]
    assert customers.column(schema.CUSTOMER_HEX).to_pylist() == raw_ids
    for key, hex_id in zip(
        customers.column(schema.CUSTOMER_ID).to_pylist()[:50], raw_ids, strict=False
    ):
        assert key_to_hex_suffix(key) == hex_id[-16:]


def test_reingest_of_the_same_files_is_a_noop_and_force_makes_a_new_version(settings, tiny_world):
    live = Lake(settings.paths.lake).current_version()
    again = ingest(tiny_world, settings, progress=False)
    assert again.skipped and again.version == live
    forced = ingest(tiny_world, settings, progress=False, force=True)
    assert forced.published and forced.version != live
    assert Lake(settings.paths.lake).current_version() == forced.version


def _drop_price_column(raw: Path) -> None:
    path = raw / schema.TRANSACTIONS_FILE
    path.write_text(
        "".join(",".join(ln.rstrip("\n").split(",")[:3] + ln.split(",")[4:]) for ln in lines(path))
    )


def _truncate_last_line(raw: Path) -> None:
    path = raw / schema.TRANSACTIONS_FILE
    data = path.read_bytes()
    path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 25])


def _duplicate_customer(raw: Path) -> None:
    path = raw / schema.CUSTOMERS_FILE
    path.write_text("".join(lines(path) + [lines(path)[5]]))


def _non_utf8(raw: Path) -> None:
    path = raw / schema.ARTICLES_FILE
    data = path.read_bytes().split(b"\n")
    data[3] = data[3].replace(b",", b",\xff", 1)
    path.write_bytes(b"\n".join(data))


TX = schema.TRANSACTIONS_FILE
BAD_INPUTS = {
    # name: (mutation, expected error, file, column, line or None)
    "missing-file": (
        lambda r: (r / schema.CUSTOMERS_FILE).unlink(),
        RawDataError,
        schema.CUSTOMERS_FILE,
        None,
        None,
    ),
    "missing-column": (_drop_price_column, RawDataError, TX, "price", None),
    "wrong-type": (lambda r: set_cell(r / TX, 5, "price", "abc"), RawDataError, TX, "price", 5),
    "empty-file": (
        lambda r: (r / schema.ARTICLES_FILE).write_bytes(b""),
        RawDataError,
        schema.ARTICLES_FILE,
        None,
        None,
    ),
    "truncated-last-line": (_truncate_last_line, RawDataError, TX, None, None),
    "non-utf8": (_non_utf8, RawDataError, schema.ARTICLES_FILE, None, 4),
    "negative-price": (
        lambda r: set_cell(r / TX, 10, "price", "-0.05"),
        ValidationFailed,
        TX,
        "price",
        10,
    ),
    "absurd-price": (
        lambda r: set_cell(r / TX, 11, "price", "999.0"),
        ValidationFailed,
        TX,
        "price",
        11,
    ),
    "unknown-article": (
        lambda r: set_cell(r / TX, 12, "article_id", "0999999999"),
        ValidationFailed,
        TX,
        "article_id",
        12,
    ),
    "duplicate-customer": (
        _duplicate_customer,
        ValidationFailed,
        schema.CUSTOMERS_FILE,
        None,
        None,
    ),
    "future-date": (
        lambda r: set_cell(r / TX, 13, "t_dat", "2999-01-01"),
        ValidationFailed,
        TX,
        "t_dat",
        13,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_a_clear_error_and_leaves_the_lake_untouched(case, settings, raw_copy):
    mutate, error, file, column, line = BAD_INPUTS[case]
    lake = Lake(settings.paths.lake)
    before = (lake.current_version(), sorted(p.name for p in lake.root.iterdir()))
    mutate(raw_copy)
    with pytest.raises(error) as info:
        ingest(raw_copy, settings, progress=False)
    message = str(info.value)
    if error is ValidationFailed:
        report = info.value.report
        message = report.describe_failures()
        assert not report.success
        assert any(f.file.endswith(file) for f in report.failures)
        if line is not None:
            failure = next(f for f in report.failures if f.column == column)
            assert any(ex["line"] == line for ex in failure.examples)
    assert file in message
    if column:
        assert column in message
    if line is not None:
        assert f"line {line}" in message or f"{line}" in message
    assert (lake.current_version(), sorted(p.name for p in lake.root.iterdir())) == before
