"""Customer ids at ingest: the full id is checked, not only the key's 16 digits; either case."""

from pathlib import Path

import pyarrow.compute as pc
import pytest

from recsys import schema
from recsys.data.errors import RawDataError, ValidationFailed
from recsys.data.ids import customer_key
from recsys.data.ingest import ingest
from recsys.data.lake import Lake

TX = schema.TRANSACTIONS_FILE


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def a_customer(raw: Path, n: int = 3) -> str:
    """The hex id of the ``n``-th customer of customers.csv."""
    return lines(raw / schema.CUSTOMERS_FILE)[n].split(",")[0]


def stranger(hex_id: str) -> str:
    """Another id with the same last 16 hex digits (so the same int64 key)."""
    return ("0" if hex_id[0] != "0" else "1") + hex_id[1:]


def replace_customer(path: Path, line: int, hex_id: str) -> None:
    """Put ``hex_id`` as the customer of the transaction on ``line``."""
    rows = lines(path)
    cells = rows[line - 1].split(",")
    cells[1] = hex_id
    rows[line - 1] = ",".join(cells)
    path.write_text("".join(rows), encoding="utf-8")


def test_an_unknown_id_ending_like_a_customer_is_refused(settings, raw_copy):
    lake = Lake(settings.paths.lake)
    live = lake.current_version()
    other = stranger(a_customer(raw_copy))
    replace_customer(raw_copy / TX, 40, other)
    with pytest.raises(RawDataError) as info:
        ingest(raw_copy, settings, progress=False)
    message = str(info.value)
    assert TX in message and "column 'customer_id'" in message
    assert f"line 40: '{other}'" in message
    assert lake.current_version() == live


def test_an_appended_week_file_is_checked_against_unchanged_customers(settings, raw_copy):
    lake = Lake(settings.paths.lake)
    live = lake.current_version()
    header, *rows = lines(raw_copy / TX)
    day = "2020-09-23"  # the Wednesday after the tiny world's last week
    week = raw_copy / "transactions" / "2020-09-29.csv"
    week.parent.mkdir()
    week.write_text(header + "".join(day + r[10:] for r in rows[:5]), encoding="utf-8")
    replace_customer(week, 4, stranger(a_customer(raw_copy)))
    with pytest.raises(RawDataError, match=r"2020-09-29\.csv, column 'customer_id'") as info:
        ingest(raw_copy, settings, progress=False)
    assert "line 4:" in str(info.value)
    assert lake.current_version() == live


def test_two_customers_sharing_the_key_are_refused(settings, raw_copy):
    path = raw_copy / schema.CUSTOMERS_FILE
    rows = lines(path)
    first = rows[3].split(",")[0]
    rows.append(rows[3].replace(first, stranger(first), 1))
    path.write_text("".join(rows), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        ingest(raw_copy, settings, progress=False)
    failure = next(
        f for f in info.value.report.failures if f.column == schema.CUSTOMER_ID and f.examples
    )
    assert failure.file == schema.CUSTOMERS_FILE
    assert {e["line"] for e in failure.examples} == {4, len(rows)}


def test_uppercase_ids_are_the_same_customer(settings, raw_copy):
    lowercase = a_customer(raw_copy)
    replace_customer(raw_copy / TX, 40, lowercase.upper())
    path = raw_copy / schema.CUSTOMERS_FILE
    other = a_customer(raw_copy, 5)
    path.write_text(path.read_text().replace(other, other.upper()), encoding="utf-8")
    result = ingest(raw_copy, settings, progress=False)
    assert result.published
    lake = Lake(settings.paths.lake)
    customers = lake.read(schema.CUSTOMERS)
    assert other in customers.column(schema.CUSTOMER_HEX).to_pylist()
    assert not any(h != h.lower() for h in customers.column(schema.CUSTOMER_HEX).to_pylist())
    tx = lake.read(schema.TRANSACTIONS).column(schema.CUSTOMER_ID)
    assert pc.sum(pc.equal(tx, customer_key(lowercase))).as_py() >= 1
