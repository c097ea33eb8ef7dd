"""Reading the three Kaggle CSV files as Kaggle ships them, streamed, into typed Arrow batches.

Every problem becomes a :class:`RawDataError` naming the file, the column and example lines:
missing or empty files, missing columns, values that do not parse as their type, malformed
customer ids, truncated lines and bytes that are not UTF-8.

What a cell may hold (:mod:`recsys.data.cells`): integers as digits (leading zeros allowed) or an
exactly integral decimal (``2.0`` is stored as 2; ``2.5``, ``1e3`` and hex ``0x2`` are refused);
dates as ISO ``YYYY-MM-DD`` only (``2020-3-25`` is refused, with its line); floats as Arrow parses
them; customer ids as 64 hex digits in either case, lowercased on the way in
(:mod:`recsys.data.ids`). A transaction's full customer id is checked against customers.csv
(:mod:`recsys.data.known_customers`). Empty cells are missing values (validation decides).

Quoted values may span lines in articles.csv and customers.csv (Arrow's ``newlines_in_values``,
which costs a third of the CSV parse, so transactions, which never have text values, go without
it; a multi-line value there is refused with its line). Blank lines are skipped. Errors name each
row's physical line (:mod:`recsys.data.lines`), counting blank and continued lines. Files may be
gzip (``.csv.gz``, :mod:`recsys.data.packing`).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from recsys import schema
from recsys.data import cells, packing
from recsys.data.errors import RawDataError
from recsys.data.ids import hex_parts, lowercase_hex
from recsys.data.known_customers import KnownCustomers
from recsys.data.lines import BatchLines, ReadLines

log = logging.getLogger(__name__)
MAX_EXAMPLES = 5
FIRST_DATA_LINE = 2  # line 1 is the header


@dataclass(frozen=True)
class RawSpec:
    """One raw file: its name, the lake table it feeds and the typed schema of its columns."""

    file: str
    table: str
    types: pa.Schema
    hex_id: bool = False  # customer_id is a 64-hex string to turn into an int64 key
    multiline: bool = False  # quoted values may span lines (Arrow's newlines_in_values)

    @property
    def columns(self) -> list[str]:
        """Column names in Kaggle's order."""
        return self.types.names


SPECS = {
    schema.TRANSACTIONS: RawSpec(
        schema.TRANSACTIONS_FILE, schema.TRANSACTIONS, schema.TRANSACTION_SCHEMA, True
    ),
    schema.ARTICLES: RawSpec(
        schema.ARTICLES_FILE, schema.ARTICLES, schema.ARTICLE_SCHEMA, multiline=True
    ),
    schema.CUSTOMERS: RawSpec(
        schema.CUSTOMERS_FILE, schema.CUSTOMERS, schema.CUSTOMER_SCHEMA, True, multiline=True
    ),
}


def raw_paths(raw_dir: Path) -> dict[str, Path]:
    """The raw files of ``raw_dir`` by table name (``.csv`` or ``.csv.gz``); a clear error if
    one is missing or empty."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise RawDataError(raw_dir, "raw data folder does not exist", hint="pass --raw DIR")
    paths = {}
    for table, spec in SPECS.items():
        path = packing.find(raw_dir, spec.file)
        if path is None:
            found = sorted(p.name for p in raw_dir.iterdir())
            raise RawDataError(
                raw_dir / spec.file, "file is missing", hint=f"the folder has {found}"
            )
        if path.stat().st_size == 0:
            raise RawDataError(path, "file is empty (0 bytes)")
        paths[table] = path
    return paths


@dataclass(frozen=True)
class Header:
    """A file's column names and the length of its line ending (2 for \\r\\n)."""

    names: list[str]
    newline: int


def read_header(path: Path, spec: RawSpec) -> Header:
    """The header's column names; raises if a required column is missing."""
    with packing.open_binary(path) as f:
        first = f.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RawDataError(
            path, "header is not UTF-8 text", examples=[(1, repr(first[:120]))]
        ) from e
    names = next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in spec.columns if c not in names]
    if missing:
        raise RawDataError(
            path,
            f"missing column(s) {missing}",
            column=missing[0],
            examples=[(1, text.strip()[:300])],
            hint=f"expected the Kaggle columns {spec.columns}",
        )
    extra = [c for c in names if c not in spec.columns]
    if extra:
        log.warning("%s: ignoring extra column(s) %s", path, extra)
    return Header(names, 2 if first.endswith(b"\r\n") else 1)


def _not_utf8_rows(values: pa.Array) -> np.ndarray:
    """Positions of byte strings that are not valid UTF-8."""
    bad = []
    for i, v in enumerate(values.to_pylist()):
        if v is None:
            continue
        try:
            v.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    return np.asarray(bad, dtype=np.int64)


def _show(value: bytes | None) -> str:
    """A raw cell for an error message: decoded where possible, bad bytes escaped."""
    if value is None:
        return "<empty>"
    return repr(value.decode("utf-8", errors="backslashreplace"))[:200]


@dataclass
class _Batch:
    """A raw batch of byte columns and where its rows lie in the file."""

    path: Path
    lines: BatchLines
    table: pa.RecordBatch
    keeps_hex: bool = False  # whether the full customer ids are kept (customers.csv)

    def fail(self, column: str, rows: np.ndarray, problem: str, hint: str | None = None) -> None:
        """Raise a RawDataError with the offending values of ``column`` at ``rows``."""
        col = self.table.column(column)
        shown = [int(i) for i in rows[:MAX_EXAMPLES]]
        examples = [
            (line, _show(col[i].as_py())) for line, i in zip(self.lines(shown), shown, strict=True)
        ]
        raise RawDataError(self.path, f"{len(rows)} value(s) {problem}", column, examples, hint)

    def text(self, column: str) -> pa.Array:
        """``column`` as UTF-8 strings; raises naming the rows whose bytes are not UTF-8."""
        col = self.table.column(column)
        try:
            return col.cast(pa.large_string())
        except pa.ArrowInvalid:
            self.fail(column, _not_utf8_rows(col), "are not valid UTF-8", "save the file as UTF-8")
            raise  # unreachable: fail() raises

    def typed(self, column: str, target: pa.DataType) -> pa.Array:
        """``column`` cast to ``target``; raises naming the rows that do not parse."""
        text = self.text(column)
        if pa.types.is_string(target) or pa.types.is_large_string(target):
            return text.cast(target)
        parsed = cells.parse(text, target)
        if parsed.values is None:
            self.fail(column, parsed.refused, f"do not parse as {target}", parsed.hint)
        return parsed.values

    def customer_ids(self, column: str, known: KnownCustomers | None) -> tuple[pa.Array, pa.Array]:
        """(int64 keys, lowercase hex ids) of a 64-hex customer id column; with ``known``, ids
        whose key is a known customer's but whose full id is not are refused."""
        text = self.text(column)
        keys, prefixes, bad = hex_parts(text, prefix=known is not None)
        if bad.any():
            self.fail(column, np.flatnonzero(bad), "are not 64-character hex customer ids")
        if known is not None:
            strangers = known.strangers(keys, prefixes)
            if len(strangers):
                self.fail(
                    column,
                    strangers,
                    f"end like a different customer's id in {schema.CUSTOMERS_FILE} (same last "
                    "16 hex digits, other first 48): not a known customer",
                    hint="customers are keyed by the last 16 hex digits of their id; fix the id, "
                    f"or add the customer to {schema.CUSTOMERS_FILE} (two customers sharing "
                    "those digits are refused)",
                )
        hexes = lowercase_hex(text).cast(pa.string()) if self.keeps_hex else None
        return pa.array(keys, pa.int64()), hexes


def _typed_batch(batch: _Batch, spec: RawSpec, known: KnownCustomers | None) -> pa.RecordBatch:
    """Convert one raw batch to the spec's typed schema (plus ``customer_hex`` for customers)."""
    arrays, fields = [], []
    for field in spec.types:
        if spec.hex_id and field.name == schema.CUSTOMER_ID:
            keys, hexes = batch.customer_ids(field.name, known)
            arrays.append(keys)
            fields.append(field)
            if spec.table == schema.CUSTOMERS:
                arrays.append(hexes)
                fields.append(pa.field(schema.CUSTOMER_HEX, pa.string()))
            continue
        arrays.append(batch.typed(field.name, field.type))
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _reader(
    stream: pa.NativeFile, spec: RawSpec, block_mb: int, invalid: list, names: list[str] | None
) -> pacsv.CSVStreamingReader:
    """An Arrow streaming CSV reader of ``stream`` reading the spec's columns as raw bytes
    (``names``: the header's, for a read that starts past it)."""

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=block_mb << 20, column_names=names),
        parse_options=pacsv.ParseOptions(
            invalid_row_handler=on_invalid, newlines_in_values=spec.multiline
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=spec.columns,
            column_types={c: pa.large_binary() for c in spec.columns},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def _raise_invalid_rows(path: Path, invalid: list, lines: ReadLines) -> None:
    """Raise for rows with the wrong number of fields (a truncated or broken line), named by
    their lines (the file is read again to find them)."""
    row = invalid[0]
    hint = None
    if packing.last_byte(path) != b"\n":
        hint = "the file does not end with a newline: truncated copy?"
    problem = (
        f"{len(invalid)} line(s) have the wrong number of fields "
        f"(expected {row.expected_columns}, got {row.actual_columns})"
    )
    found = lines.rescan().broken
    examples = found or [(None, r.text[:200]) for r in invalid]
    raise RawDataError(path, problem, examples=examples[:MAX_EXAMPLES], hint=hint)


def _raise_unreadable(path: Path, error: pa.ArrowInvalid, lines: ReadLines) -> None:
    """Raise for a file Arrow cannot split into rows, naming the line where it goes wrong."""
    found = lines.rescan()
    if found.multiline is not None:
        raise RawDataError(
            path,
            "a quoted value spans several lines (this file never has text values)",
            examples=[found.multiline],
            hint="remove the line break inside the quotes",
        ) from error
    if found.broken:
        raise RawDataError(
            path, "line(s) with the wrong number of fields", examples=found.broken[:MAX_EXAMPLES]
        ) from error
    raise RawDataError(path, f"cannot be read as CSV: {error}") from error


class RawRead:
    """One read of a raw file: iterating yields ``(lines, typed_batch)``, ``lines(rows)`` giving
    the file lines of a batch's rows; :attr:`lines` numbers every row once the read is done."""

    def __init__(
        self,
        path: Path,
        spec: RawSpec,
        block_mb: int = 64,
        progress: bool = True,
        offset: int = 0,
        first_line: int = FIRST_DATA_LINE,
        known: KnownCustomers | None = None,
    ) -> None:
        self.path, self.spec, self.block_mb, self.progress = Path(path), spec, block_mb, progress
        self.offset, self.known = offset, known
        self.header = read_header(self.path, spec)
        names = self.header.names
        included = len(names) == len(spec.columns)
        self.lines = ReadLines(self.path, offset, first_line, len(names), included)
        self.lines.newline = self.header.newline

    def __iter__(self) -> Iterator[tuple[BatchLines, pa.RecordBatch]]:
        """Typed batches, checked as they come (see the module docstring)."""
        stream, file = packing.arrow_stream(self.path, self.offset)
        if self.offset == 0:
            self.lines.expected = len(self._header_bytes())
        invalid: list = []
        names = self.header.names if self.offset else None
        reader = _reader(stream, self.spec, self.block_mb, invalid, names)
        size = self.path.stat().st_size
        with tqdm(
            total=size - self.offset,
            unit="B",
            unit_scale=True,
            desc=self.path.name,
            disable=not self.progress,
        ) as bar:
            while (raw := self._next(reader)) is not None:
                if invalid:
                    _raise_invalid_rows(self.path, invalid, self.lines)
                where = BatchLines(self.lines, self.lines.rows)
                keeps_hex = self.spec.table == schema.CUSTOMERS
                batch = _Batch(self.path, where, raw, keeps_hex)
                typed = _typed_batch(batch, self.spec, self.known)
                self.lines.count(raw)
                yield where, typed
                bar.update(min(file.tell(), size) - self.offset - bar.n)
        if invalid:
            _raise_invalid_rows(self.path, invalid, self.lines)
        self.lines.finish(*packing.read_size(self.path, self.offset))
        if self.lines.rows == 0:
            after = f"no data rows after line {self.lines.first_line - 1}"
            raise RawDataError(
                self.path, f"file has {after if self.offset else 'a header but no data rows'}"
            )

    def _next(self, reader: pacsv.CSVStreamingReader) -> pa.RecordBatch | None:
        """The next raw batch (None at the end); raises naming the line Arrow stumbled on."""
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None
        except pa.ArrowInvalid as e:
            _raise_unreadable(self.path, e, self.lines)
            raise  # unreachable

    def _header_bytes(self) -> bytes:
        """The header line as bytes (a byte-order mark included)."""
        with packing.open_binary(self.path) as f:
            return f.readline()


def stream_typed(
    path: Path,
    spec: RawSpec,
    block_mb: int = 64,
    progress: bool = True,
    offset: int = 0,
    first_line: int = FIRST_DATA_LINE,
    known: KnownCustomers | None = None,
) -> RawRead:
    """A :class:`RawRead` of the file: ``offset`` > 0 reads only the rows from that byte on (the
    start of a line past the header), numbered from ``first_line`` (their line in the file)."""
    return RawRead(path, spec, block_mb, progress, offset, first_line, known)


def read_lined(
    path: Path, spec: RawSpec, block_mb: int = 64, progress: bool = False
) -> tuple[pa.Table, ReadLines]:
    """The whole file as one typed table, and the lines of its rows."""
    read = stream_typed(path, spec, block_mb, progress)
    batches = [b for _, b in read]
    return pa.Table.from_batches(batches), read.lines


def read_typed(path: Path, spec: RawSpec, block_mb: int = 64, progress: bool = False) -> pa.Table:
    """The whole file as one typed table (for the smaller files: articles, customers)."""
    return read_lined(path, spec, block_mb, progress)[0]
