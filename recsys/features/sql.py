"""Small SQL building blocks and the DuckDB connection shared by the snapshot queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from recsys import schema
from recsys.data.lake import Lake
from recsys.features.cutoffs import window_start
from recsys.features.spec import WINDOWS, FeatureSpec

THREADS = 2
MEMORY_LIMIT = "8GB"

DUCK_TYPES = {
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.string(): "VARCHAR",
}


def connect(temp_dir: Path, threads: int = THREADS, memory_limit: str = MEMORY_LIMIT):
    """An in-memory DuckDB connection with bounded threads, memory and a spill folder."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    con.execute(f"SET temp_directory = {quote(str(temp_dir))}")
    con.execute("SET TimeZone = 'UTC'")
    return con


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def date(day: dt.date) -> str:
    """A SQL DATE literal."""
    return f"DATE '{day.isoformat()}'"


def since(cutoff: dt.date, window: str, col: str = "t") -> str:
    """Condition "``col`` lies in ``window``" (rows are already before the cutoff)."""
    start = window_start(cutoff, WINDOWS[window])
    return "TRUE" if start is None else f"{col} >= {date(start)}"


def filtered(agg: str, cond: str) -> str:
    """``agg FILTER (WHERE cond)``; no filter when ``cond`` is TRUE."""
    return agg if cond == "TRUE" else f"{agg} FILTER (WHERE {cond})"


def ratio(num: str, den: str) -> str:
    """``num / den`` as a double, NULL when the denominator is 0 or NULL."""
    return f"({num})::DOUBLE / nullif({den}, 0)"


def cast(spec: FeatureSpec, expr: str) -> str:
    """``expr`` cast to the spec's type and named after the feature."""
    return f"CAST({expr} AS {DUCK_TYPES[spec.dtype]}) AS {spec.name}"


def select_list(items: Iterable[str]) -> str:
    """Comma-separated, one item per line."""
    return ",\n  ".join(items)


def partition_files(lake: Lake, cutoff: dt.date) -> list[str]:
    """Transaction files of every week that may hold a day before ``cutoff``."""
    folder = lake.current_dir() / schema.TRANSACTIONS
    last_week = cutoff + dt.timedelta(days=5)  # the week ending then starts on cutoff - 1
    weeks = [w for w in lake.weeks() if dt.date.fromisoformat(w) <= last_week]
    return sorted(str(p) for w in weeks for p in (folder / f"{schema.WEEK}={w}").glob("*.parquet"))


def file_list(files: list[str]) -> str:
    """A DuckDB list literal of file paths."""
    return "[" + ", ".join(quote(f) for f in files) + "]"


def check_covers(expressions: dict[str, str], specs: list[FeatureSpec], entity: str) -> None:
    """Raise if the SQL expressions do not cover exactly the spec's features."""
    names = [s.name for s in specs]
    if set(expressions) != set(names) or len(expressions) != len(names):
        missing = sorted(set(names) - set(expressions))
        extra = sorted(set(expressions) - set(names))
        raise RuntimeError(
            f"{entity} SQL out of step with the spec: missing {missing}, extra {extra}"
        )


def band(cutoff: dt.date, windows: Iterable[str], col: str = "t") -> str:
    """Index of the narrowest of the (nested, growing) ``windows`` that holds day ``col``.

    Windows are nested, so a metric additive over days is computed once per (entity, band) in
    one pass over the rows, and a window's value is the sum over bands ``b <= index(window)``,
    computed over the small banded table instead of one filtered aggregate per window and
    metric over every row.
    """
    whens = [
        f"WHEN {cond} THEN {i}"
        for i, w in enumerate(windows)
        if (cond := since(cutoff, w, col)) != "TRUE"
    ]
    last = len(list(windows)) - 1
    return f"CASE {' '.join(whens)} ELSE {last} END" if whens else str(last)


def upto(agg: str, index: int, last: int) -> str:
    """``agg`` over bands ``0..index`` (all bands if ``index`` is the last)."""
    return agg if index == last else f"{agg} FILTER (WHERE b <= {index})"
