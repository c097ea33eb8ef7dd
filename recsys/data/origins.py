"""Where each validated transaction row comes from: its file and line, across several files.

The rows of one validation run may come from several files (the history, its appended tail, week
files). The validated frame's index labels are the rows' line numbers when they come from one
file read row by line, their positions otherwise (several files, or a file with blank lines or
values spanning lines: its rows' lines are then found only for the failures' examples, see
:mod:`recsys.data.lines`); :meth:`Origins.relabel` turns a report's examples back into
``file, line``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from recsys import schema
from recsys.validation.report import FILE, LINE

if TYPE_CHECKING:
    from recsys.data.lines import ReadLines
    from recsys.validation import ValidationReport


@dataclass(frozen=True)
class Span:
    """``rows`` consecutive rows of file ``name``, the first on line ``first_line`` (``lines``:
    where each row is, when not one row per line)."""

    name: str
    first_line: int
    rows: int
    lines: ReadLines | None = None

    @property
    def by_line(self) -> bool:
        """Whether row ``i`` is on line ``first_line + i``."""
        return self.lines is None or bool(self.lines.simple)

    def line(self, row: int) -> int:
        """The line of the span's ``row``."""
        return self.first_line + row if self.by_line else self.lines.lines([row])[0]


@dataclass
class Origins:
    """The files and lines of a validated frame's rows, in order."""

    spans: list[Span] = field(default_factory=list)

    def add(self, name: str, first_line: int, rows: int, lines: ReadLines | None = None) -> None:
        """Append ``rows`` rows of ``name`` starting at ``first_line``."""
        if rows:
            self.spans.append(Span(name, first_line, rows, lines))

    @property
    def by_line(self) -> bool:
        """Whether the index labels are line numbers (one file, one row per line)."""
        return len(self.spans) == 1 and self.spans[0].by_line

    @property
    def names(self) -> list[str]:
        """The files, in order, each once."""
        return list(dict.fromkeys(s.name for s in self.spans))

    def index(self) -> pd.Index:
        """The frame's index: line numbers for one file, positions for several."""
        total = sum(s.rows for s in self.spans)
        start = self.spans[0].first_line if self.by_line else 0
        return pd.RangeIndex(start, start + total, name=LINE)

    def locate(self, label: int) -> tuple[str, int]:
        """The file and line of the row with index ``label``."""
        if self.by_line:
            return self.spans[0].name, label
        starts, total = [], 0
        for span in self.spans:
            starts.append(total)
            total += span.rows
        span_no = bisect.bisect_right(starts, label) - 1
        span = self.spans[span_no]
        return span.name, span.line(label - starts[span_no])

    def relabel(self, report: ValidationReport) -> None:
        """Name the files and lines of the transactions failures (and rewrite the report JSON)."""
        if not self.spans:
            return
        several = len(self.names) > 1
        for result in report.tables:
            if result.table == schema.TRANSACTIONS:
                result.file = ", ".join(self.names)
        for failure in (f for f in report.failures if f.table == schema.TRANSACTIONS):
            files = []
            for example in failure.examples:
                name, example[LINE] = self.locate(example[LINE])
                files.append(name)
                if several:
                    example[FILE] = name
            failure.file = ", ".join(dict.fromkeys(files or self.names))
        report.write_json()
