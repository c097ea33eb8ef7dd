"""The validation report: what failed, where (file, column, line numbers) and how to print it."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recsys import schema

MAX_EXAMPLES = 5
LINE = "line"
FILE = "file"  # set on examples of a table read from several files (which one the line is in)
# columns printed for each example row besides the failing one (all of them for transactions)
SHOWN_COLUMNS: dict[str, tuple[str, ...]] = {
    schema.ARTICLES: (schema.ARTICLE_ID, "prod_name"),
    schema.CUSTOMERS: (schema.CUSTOMER_ID,),
    schema.TRANSACTIONS: tuple(schema.TRANSACTION_COLUMNS),
}


@dataclass
class Failure:
    """One failed expectation, in the user's terms."""

    file: str  # raw file name, e.g. "transactions_train.csv"
    column: str | None  # None for table-level expectations (column set)
    expectation: str  # GE expectation type
    description: str  # plain English, e.g. "price must be in (0.0, 1.0]"
    unexpected_count: int | None = None
    unexpected_percent: float | None = None  # of all rows (GE's unexpected_percent_total)
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"line": n, column: value...}
    table: str = ""  # lake table name (articles, customers, transactions)
    observed: str | None = None  # extra detail: mismatched columns, an error GE raised

    def describe(self) -> str:
        """A few lines: file, column, rule, how many rows, example rows with line numbers."""
        where = f"{self.file}, column {self.column}" if self.column else self.file
        lines = [f"{where}: {self.description}"]
        check = f"check {self.expectation}"  # no [brackets]: rich would read them as markup
        if self.unexpected_count is not None:
            share = self.unexpected_percent
            pct = "" if share is None else f" ({_percent(share)} of rows)"
            check = f"{self.unexpected_count:,} row(s) violate it{pct}; {check}"
        lines.append(f"    {check}")
        if self.observed:
            lines.append(f"    observed: {self.observed}")
        lines += [f"    {_format_example(ex, self.table, self.column)}" for ex in self.examples]
        return "\n".join(lines)


@dataclass
class TableResult:
    """Outcome of one table's suite."""

    table: str
    file: str
    success: bool
    n_rows: int
    evaluated: int  # expectations evaluated
    failed: int  # expectations failed

    @property
    def passed(self) -> int:
        """Expectations that passed."""
        return self.evaluated - self.failed


@dataclass
class ValidationReport:
    """Outcome of :func:`recsys.validation.validate_tables` (also written as JSON)."""

    success: bool
    run_id: str
    tables: list[TableResult]
    failures: list[Failure]
    json_path: Path
    docs_path: Path

    def summary(self) -> str:
        """A compact console table: one line per table with PASS/FAIL, rows, expectations."""
        head = f"{'table':<14}{'file':<26}{'result':<8}{'rows':>12}  expectations passed/failed"
        rows = [
            f"{t.table:<14}{t.file:<26}{'PASS' if t.success else 'FAIL':<8}{t.n_rows:>12,}"
            f"  {t.passed}/{t.failed}"
            for t in self.tables
        ]
        verdict = "PASSED" if self.success else f"FAILED ({len(self.failures)} failed expectations)"
        return "\n".join([f"validation {self.run_id}: {verdict}", head, *rows])

    def describe_failures(self) -> str:
        """Every failure, crisp: file, column, expected rule, row count, example lines."""
        if not self.failures:
            return "no validation failures"
        blocks = [f"{i}. {f.describe()}" for i, f in enumerate(self.failures, 1)]
        footer = f"details: {self.json_path}\ndata docs: {self.docs_path}"
        return "\n".join([*blocks, footer])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        data = asdict(self)
        data["json_path"], data["docs_path"] = str(self.json_path), str(self.docs_path)
        return data

    def write_json(self) -> Path:
        """Write the report to ``json_path`` and copy it to ``latest.json`` beside it."""
        text = json.dumps(self.to_dict(), indent=2, default=str)
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        for path in (self.json_path, self.json_path.with_name("latest.json")):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return self.json_path


def _format_example(example: dict[str, Any], table: str, column: str | None) -> str:
    """``line 7: t_dat=2020-09-01 customer_id=... price=-1.0`` (key columns + failing one)."""
    shown = [c for c in SHOWN_COLUMNS.get(table, ()) if c in example]
    if column and column in example and column not in shown:
        shown.append(column)
    if not shown:
        shown = [c for c in example if c not in (LINE, FILE)]
    values = " ".join(f"{c}={_short(example[c])}" for c in shown)
    where = f"{example[FILE]} " if FILE in example else ""
    return f"{where}line {example.get(LINE, '?')}: {values}"


def _percent(share: float) -> str:
    """``12.5%``, ``0.0031%``: two significant digits below 1%, never scientific notation."""
    if share == 0 or share >= 1:
        return f"{share:.1f}%"
    return f"{share:.{1 - math.floor(math.log10(share))}f}%"


def _short(value: Any) -> str:
    """Printable value: strings unquoted unless empty, long texts cut."""
    if value is None:
        return "<empty>"
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."
