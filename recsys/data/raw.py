"""Reading the three Kaggle CSV files as Kaggle ships them, streamed, into typed Arrow batches.

Every problem becomes a :class:`RawDataError` naming the file, the column and example lines:
missing or empty files, missing columns, values that do not parse as their type, malformed
customer ids, truncated lines and bytes that are not UTF-8.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from recsys import schema
from recsys.data.errors import RawDataError
from recsys.data.ids import hex_to_key

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

    @property
    def columns(self) -> list[str]:
        """Column names in Kaggle's order."""
        return self.types.names


SPECS = {
    schema.TRANSACTIONS: RawSpec(
        schema.TRANSACTIONS_FILE, schema.TRANSACTIONS, schema.TRANSACTION_SCHEMA, True
    ),
    schema.ARTICLES: RawSpec(schema.ARTICLES_FILE, schema.ARTICLES, schema.ARTICLE_SCHEMA),
    schema.CUSTOMERS: RawSpec(
        schema.CUSTOMERS_FILE, schema.CUSTOMERS, schema.CUSTOMER_SCHEMA, True
    ),
}


def raw_paths(raw_dir: Path) -> dict[str, Path]:
    """The raw files of ``raw_dir`` by table name; a clear error if one is missing or empty."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise RawDataError(raw_dir, "raw data folder does not exist", hint="pass --raw DIR")
    paths = {}
    for table, spec in SPECS.items():
        path = raw_dir / spec.file
        if not path.is_file():
            found = sorted(p.name for p in raw_dir.iterdir())
            raise RawDataError(path, "file is missing", hint=f"the folder has {found}")
        if path.stat().st_size == 0:
            raise RawDataError(path, "file is empty (0 bytes)")
        paths[table] = path
    return paths


def read_header(path: Path, spec: RawSpec) -> list[str]:
    """The header's column names; raises if a required column is missing."""
    with open(path, "rb") as f:
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
    return names


def _bad_rows(values: pa.Array, target: pa.DataType) -> np.ndarray:
    """Positions of non-null ``values`` (strings) that do not parse as ``target``."""
    s = pd.Series(values.to_pandas(), dtype=object)
    present = s.notna().to_numpy()
    if pa.types.is_date(target):
        parsed = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
        ok = parsed.notna().to_numpy()
    else:
        parsed = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(parsed) | (np.isinf(parsed) & pa.types.is_floating(target))
        if pa.types.is_integer(target):
            info = np.iinfo(target.to_pandas_dtype())
            with np.errstate(invalid="ignore"):
                ok &= (parsed % 1 == 0) & (parsed >= info.min) & (parsed <= info.max)
    return np.flatnonzero(present & ~ok)


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
    """A raw batch of byte columns and the line number of its first row."""

    path: Path
    first_line: int
    table: pa.RecordBatch

    def fail(self, column: str, rows: np.ndarray, problem: str, hint: str | None = None) -> None:
        """Raise a RawDataError with the offending values of ``column`` at ``rows``."""
        col = self.table.column(column)
        examples = [
            (self.first_line + int(i), _show(col[int(i)].as_py())) for i in rows[:MAX_EXAMPLES]
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
        try:
            return text.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            rows = _bad_rows(text, target)
            self.fail(column, rows, f"do not parse as {target}")
            raise

    def customer_keys(self, column: str) -> tuple[pa.Array, pa.Array]:
        """(int64 keys, hex strings) for a 64-hex customer id column."""
        text = self.text(column)
        keys, bad = hex_to_key(text)
        if bad.any():
            self.fail(
                column, np.flatnonzero(bad), "are not 64-character lowercase hex customer ids"
            )
        return pa.array(keys, pa.int64()), text.cast(pa.string())


def _typed_batch(batch: _Batch, spec: RawSpec) -> pa.RecordBatch:
    """Convert one raw batch to the spec's typed schema (plus ``customer_hex`` for customers)."""
    arrays, fields = [], []
    for field in spec.types:
        if spec.hex_id and field.name == schema.CUSTOMER_ID:
            keys, hexes = batch.customer_keys(field.name)
            arrays.append(keys)
            fields.append(field)
            if spec.table == schema.CUSTOMERS:
                arrays.append(hexes)
                fields.append(pa.field(schema.CUSTOMER_HEX, pa.string()))
            continue
        arrays.append(batch.typed(field.name, field.type))
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


@dataclass(frozen=True)
class _Tail:
    """Where a read starts inside a file: a line's byte offset, and the header's names."""

    offset: int
    names: list[str]


def _reader(path: Path, spec: RawSpec, block_mb: int, invalid: list, tail: _Tail | None) -> tuple:
    """An Arrow streaming CSV reader reading every needed column as raw bytes (from ``tail``'s
    byte offset on when given; the column names then come from the header)."""
    if tail is None:
        stream = pa.input_stream(str(path))
    else:
        stream = pa.OSFile(str(path))
        stream.seek(tail.offset)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(
            block_size=block_mb << 20, column_names=tail.names if tail else None
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            include_columns=spec.columns,
            column_types={c: pa.large_binary() for c in spec.columns},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return stream, reader


def _raise_invalid_rows(path: Path, invalid: list, near_line: int, tail: bool = False) -> None:
    """Raise for rows with the wrong number of fields (a truncated or broken line); Arrow's row
    numbers count from the start of the read, so a ``tail`` read names the line it was near."""
    row = invalid[0]
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 1))
        ends_with_newline = f.read(1) == b"\n"
    hint = None if ends_with_newline else "the file does not end with a newline: truncated copy?"
    problem = (
        f"{len(invalid)} line(s) have the wrong number of fields "
        f"(expected {row.expected_columns}, got {row.actual_columns})"
    )
    examples = [(None if tail else r.number or None, r.text[:200]) for r in invalid[:MAX_EXAMPLES]]
    if examples[0][0] is None:
        examples = [(None, f"(near line {near_line}) {t}") for _, t in examples]
    raise RawDataError(path, problem, examples=examples, hint=hint)


def stream_typed(
    path: Path,
    spec: RawSpec,
    block_mb: int = 64,
    progress: bool = True,
    offset: int = 0,
    first_line: int = FIRST_DATA_LINE,
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Yield ``(first_line, typed_batch)`` for the file, with a progress bar over its bytes.

    ``offset`` > 0 reads only the rows from that byte on (the start of a line past the header),
    numbered from ``first_line`` (their line number in the file).
    """
    names = read_header(path, spec)
    invalid: list = []
    tail = _Tail(offset, names) if offset else None
    stream, reader = _reader(path, spec, block_mb, invalid, tail)
    line = first_line
    size = path.stat().st_size
    total = size - offset
    with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=not progress) as bar:
        for raw in reader:
            typed = _typed_batch(_Batch(path, line, raw), spec)
            line += raw.num_rows
            if invalid:
                _raise_invalid_rows(path, invalid, line, bool(offset))
            yield line - raw.num_rows, typed
            bar.update(min(stream.tell(), size) - offset - bar.n)
    if invalid:
        _raise_invalid_rows(path, invalid, line, bool(offset))
    if line == first_line:
        problem = (
            f"no data rows after line {first_line - 1}" if offset else "a header but no data rows"
        )
        raise RawDataError(path, f"file has {problem}")


def read_typed(path: Path, spec: RawSpec, block_mb: int = 64, progress: bool = False) -> pa.Table:
    """The whole file as one typed table (for the smaller files: articles, customers)."""
    batches = [b for _, b in stream_typed(path, spec, block_mb, progress)]
    return pa.Table.from_batches(batches)
