"""Which physical line of a CSV file each parsed row starts on.

Arrow counts rows, not lines: it skips blank lines, and a quoted value may span several lines, so
row ``n`` of a read is not always on line ``first_line + n``. A read is *simple* when every row
is exactly one line: known at no cost from byte counts (the bytes read equal the rows' cells plus
one separator per cell, which leaves no room for quotes, blank lines or ignored columns). A simple
read numbers its rows by arithmetic. Otherwise, and for every error message, the file is read
again with Python's ``csv`` module to find where each row starts: slow, but only for errors and
for files that have such rows.
"""

from __future__ import annotations

import csv
import io
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.data import packing

CHUNK = 16 << 20
FIELD_LIMIT = 1 << 30  # the csv module's default (128 KiB per cell) is below what Arrow reads


@dataclass
class Scan:
    """What a re-read found: where rows start (as shifts), broken rows, the first multi-line row."""

    starts: array = field(default_factory=lambda: array("q"))  # rows where the shift changes
    shifts: array = field(
        default_factory=lambda: array("q")
    )  # line - (first_line + row) from there
    broken: list[tuple[int, str]] = field(default_factory=list)  # (line, text): wrong field count
    multiline: tuple[int, str] | None = None  # the first row spanning several lines
    rows: int = 0
    lines: int = 0  # physical lines read
    complete: bool = False

    def line(self, rows: np.ndarray, first_line: int) -> np.ndarray:
        """The first line of each of ``rows``."""
        at = np.searchsorted(np.asarray(self.starts), rows, side="right") - 1
        return first_line + rows + np.asarray(self.shifts, np.int64)[np.maximum(at, 0)]


def scan(path: Path, offset: int, first_line: int, columns: int, upto: int | None = None) -> Scan:
    """Re-read ``path`` from ``offset`` (past the header when 0) with the csv module, up to row
    ``upto`` (all rows when None); ``columns``: the header's field count."""
    found = Scan(starts=array("q", [0]), shifts=array("q", [0]))
    csv.field_size_limit(FIELD_LIMIT)
    with packing.open_binary(path) as raw:
        raw.seek(offset)
        reader = csv.reader(io.TextIOWrapper(raw, "utf-8", "surrogateescape", newline=""))
        if offset == 0:
            next(reader, None)
        base = first_line - 1 - reader.line_num  # physical line = base + reader.line_num
        before = reader.line_num
        for cells in reader:
            start, before = base + before + 1, reader.line_num
            if not cells:
                continue  # a blank line: Arrow skips it too
            if len(cells) != columns:
                found.broken.append((start, ",".join(cells)[:200]))
                continue  # Arrow skips it (and the read fails)
            if found.multiline is None and base + before > start:
                found.multiline = (start, ",".join(cells)[:200])
            shift = start - first_line - found.rows
            if shift != found.shifts[-1]:
                found.starts.append(found.rows)
                found.shifts.append(shift)
            found.rows += 1
            if upto is not None and found.rows > upto:
                return found
        found.lines, found.complete = base + before - first_line + 1, True
    return found


def count_lines(path: Path, offset: int = 0) -> int:
    """Physical lines from byte ``offset`` on (a last line without its newline counts)."""
    lines, last = 0, b"\n"
    with packing.open_binary(path) as f:
        f.seek(offset)
        while chunk := f.read(CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


@dataclass
class ReadLines:
    """The lines of the rows of one read of a file (from byte ``offset``, first row on
    ``first_line``); fed each raw batch, it tells whether the read was simple."""

    path: Path
    offset: int
    first_line: int
    columns: int  # fields per row in the file (the header's)
    included: bool  # whether every column of the file is read (else the byte check cannot tell)
    newline: int = 1  # bytes of a line ending (2 for \r\n)
    expected: int = 0  # bytes the rows take if each is one line
    rows: int = 0
    simple: bool | None = None  # None until the read is finished
    _scan: Scan | None = None

    def count(self, batch: pa.RecordBatch) -> None:
        """Add a raw batch (every column as binary) to the bytes expected of one-line rows."""
        for column in batch.columns:
            offsets = np.frombuffer(
                column.buffers()[1], np.int64, len(column) + 1, column.offset * 8
            )
            self.expected += int(offsets[-1] - offsets[0])
        self.expected += batch.num_rows * (self.columns - 1 + self.newline)
        self.rows += batch.num_rows

    def finish(self, size: int, modulus: int | None = None) -> None:
        """Decide, from the ``size`` in bytes of what was read (known modulo ``modulus``, when
        given), whether each row is one line."""
        ends = (self.expected, self.expected - self.newline)
        one_line = any((end - size) % (modulus or 1 << 62) == 0 for end in ends)
        self.simple = self.included and self.rows > 0 and one_line

    def lines(self, rows: np.ndarray | list[int]) -> list[int]:
        """The first line of each row (rows counted from the read's first)."""
        rows = np.asarray(rows, np.int64)
        if self.simple:
            return (self.first_line + rows).tolist()
        return self.rescan(int(rows.max(initial=0))).line(rows, self.first_line).tolist()

    def rescan(self, upto: int | None = None) -> Scan:
        """The csv module's re-read up to row ``upto`` (all rows when None), kept for reuse."""
        kept = self._scan
        if kept is None or not (kept.complete or (upto is not None and kept.rows > upto)):
            self._scan = scan(self.path, self.offset, self.first_line, self.columns, upto)
        return self._scan

    def last_line(self) -> int:
        """The read's last physical line (a blank or continued line included)."""
        if self.simple:
            return self.first_line + self.rows - 1
        return self.first_line - 1 + count_lines(self.path, self.offset)

    def index(self) -> pd.Index:
        """The rows' first lines as a pandas index named ``line``."""
        if self.simple:
            return pd.RangeIndex(self.first_line, self.first_line + self.rows, name="line")
        return pd.Index(self.lines(np.arange(self.rows)), name="line")


@dataclass(frozen=True)
class BatchLines:
    """The lines of one batch's rows: ``lines(rows)``, rows counted from the batch's first."""

    read: ReadLines
    first: int  # the batch's first row, counted from the read's first

    def __call__(self, rows: np.ndarray | list[int]) -> list[int]:
        """The first line of each of the batch's ``rows``."""
        return self.read.lines(self.first + np.asarray(rows, np.int64))
