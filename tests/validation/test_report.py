"""The report of a run: console summary, failure text, JSON result, Data Docs, re-runs."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest
from validation_frames import make_transactions

from recsys import schema
from recsys.settings import Settings
from recsys.validation import Failure, TableResult, ValidationReport, validate_tables


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args}")


def test_good_tables_pass_and_write_json_and_docs(
    tmp_path: Path, settings: Settings, good_tables: dict[str, pd.DataFrame]
) -> None:
    report = validate_tables(good_tables, tmp_path, settings)
    assert report.success, report.describe_failures()
    assert report.failures == []
    assert [(t.table, t.success, t.failed) for t in report.tables] == [
        (schema.ARTICLES, True, 0),
        (schema.CUSTOMERS, True, 0),
        (schema.TRANSACTIONS, True, 0),
    ]
    assert [t.n_rows for t in report.tables] == [3, 4, 8]
    assert report.json_path == tmp_path / "results" / f"{report.run_id}.json"
    saved = json.loads(report.json_path.read_text())
    assert saved == json.loads((tmp_path / "results" / "latest.json").read_text())
    assert saved["success"] is True and saved["run_id"] == report.run_id
    assert report.docs_path.name == "index.html" and report.docs_path.is_file()
    assert report.docs_path.is_relative_to(tmp_path)
    assert report.describe_failures() == "no validation failures"


def test_rerun_in_same_out_dir_is_idempotent(
    tmp_path: Path,
    settings: Settings,
    good_tables: dict[str, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = validate_tables(good_tables, tmp_path, settings)
    monkeypatch.setattr(socket.socket, "connect", _no_network)  # GE must stay offline
    monkeypatch.setattr(socket, "create_connection", _no_network)
    bad = dict(good_tables, **{schema.TRANSACTIONS: make_transactions().assign(price=-1.0)})
    second = validate_tables(bad, tmp_path, settings)
    third = validate_tables(good_tables, tmp_path, settings)
    assert first.success and not second.success and third.success
    assert len({first.run_id, second.run_id, third.run_id}) == 3
    suites = sorted(p.name for p in (tmp_path / "gx" / "expectations").glob("*.json"))
    assert suites == ["articles.json", "customers.json", "transactions.json"]
    definitions = list((tmp_path / "gx" / "validation_definitions").glob("*.json"))
    assert len(definitions) == 3
    suite = json.loads((tmp_path / "gx" / "expectations" / "transactions.json").read_text())
    assert len(suite["expectations"]) == third.tables[-1].evaluated == 11
    results = sorted(p.stem for p in (tmp_path / "results").glob("2*.json"))
    assert results == sorted([first.run_id, second.run_id, third.run_id])
    assert json.loads((tmp_path / "results" / "latest.json").read_text())["run_id"] == third.run_id
    index = third.docs_path.read_text()
    assert all(run.run_id in index for run in (first, second, third))


def test_failure_text_names_file_column_rule_count_and_lines(
    tmp_path: Path, settings: Settings, good_tables: dict[str, pd.DataFrame]
) -> None:
    transactions = make_transactions()
    transactions.loc[[3, 6], schema.PRICE] = [-1.0, 999.0]
    report = validate_tables({**good_tables, schema.TRANSACTIONS: transactions}, tmp_path, settings)
    text = report.describe_failures()
    assert "transactions_train.csv, column price: price must be in (0.0, 1.0]" in text
    assert "2 row(s) violate it (25.0% of rows)" in text
    assert "line 3: t_dat=2018-09-20 customer_id=" in text and "price=-1.0" in text
    assert "line 6: " in text and "price=999.0" in text
    head, *_, last = report.summary().splitlines()
    assert "FAILED" in head
    assert last.split()[:4] == ["transactions", "transactions_train.csv", "FAIL", "8"]
    assert last.endswith("10/1")


def test_report_round_trips_through_json(tmp_path: Path) -> None:
    failure = Failure(
        file="customers.csv",
        column="age",
        expectation="expect_column_values_to_be_between",
        description="age must be in [14, 110] (or empty)",
        unexpected_count=1,
        unexpected_percent=0.000073,
        examples=[{"line": 9, "customer_id": "ab" * 32, "age": 3.0}],
        table=schema.CUSTOMERS,
    )
    report = ValidationReport(
        success=False,
        run_id="r1",
        tables=[TableResult(schema.CUSTOMERS, "customers.csv", False, 1_371_980, 11, 1)],
        failures=[failure],
        json_path=tmp_path / "results" / "r1.json",
        docs_path=tmp_path / "index.html",
    )
    report.write_json()
    data = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert data["failures"][0]["examples"][0] == {"line": 9, "customer_id": "ab" * 32, "age": 3.0}
    assert data["json_path"] == str(report.json_path)
    assert "1,371,980" in report.summary() and "10/1" in report.summary()
    text = report.describe_failures()
    assert "1 row(s) violate it (0.000073% of rows)" in text
    assert f"line 9: customer_id={'ab' * 32} age=3.0" in text
