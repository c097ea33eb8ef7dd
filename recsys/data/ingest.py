"""Ingest: raw Kaggle CSVs -> validated, typed Parquet in a new lake version (published atomically).

Steps: read articles and customers, stream transactions into weekly Parquet files in a staging
folder, validate the three typed tables with Great Expectations, and only then publish. On any
error the staging folder is deleted and the live version stays as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys import schema
from recsys.data.errors import ValidationFailed
from recsys.data.fingerprint import files_fingerprint
from recsys.data.lake import Lake
from recsys.data.partition import WeekPartitionWriter
from recsys.data.raw import FIRST_DATA_LINE, SPECS, raw_paths, read_typed, stream_typed
from recsys.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What an ingest run did."""

    version: str | None
    rows: dict[str, int] = field(default_factory=dict)
    weeks: int = 0
    first_date: str | None = None
    last_date: str | None = None
    seconds: float = 0.0
    skipped: bool = False
    published: bool = False
    report: object | None = None
    timings: dict[str, float] = field(default_factory=dict)


def validation_key(settings: Settings) -> str:
    """The settings that change what validation accepts (part of the data fingerprint)."""
    return (
        f"price=({settings.price_min},{settings.price_max}];dates=[{settings.date_min},"
        f"{settings.latest_date}];age=[{settings.age_min},{settings.age_max}]"
    )


def lined_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame whose index is each row's line number in its CSV file."""
    frame = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
    frame.index = pd.RangeIndex(FIRST_DATA_LINE, FIRST_DATA_LINE + len(frame), name="line")
    return frame


def stream_transactions(path: Path, out: Path, settings: Settings, progress: bool) -> pa.Table:
    """Stream the transactions CSV into weekly Parquet under ``out``; returns the typed table."""
    writer = WeekPartitionWriter(out)
    batches = []
    try:
        for _, batch in stream_typed(
            path, SPECS[schema.TRANSACTIONS], settings.csv_block_mb, progress
        ):
            writer.write(batch)
            batches.append(batch)
    finally:
        writer.close()
    return pa.Table.from_batches(batches, schema=schema.TRANSACTION_SCHEMA)


def _date_range(transactions: pa.Table) -> tuple[str | None, str | None]:
    """First and last transaction date as ISO strings."""
    bounds = pc.min_max(transactions.column(schema.T_DAT))
    first, last = bounds["min"].as_py(), bounds["max"].as_py()
    return (first and first.isoformat(), last and last.isoformat())


def _validate(tables: dict[str, pa.Table], paths: dict[str, Path], settings: Settings):
    """Run the Great Expectations suites on the typed tables (frames indexed by line number)."""
    from recsys.validation import validate_tables

    frames = {name: lined_frame(t) for name, t in tables.items()}
    return validate_tables(frames, settings.paths.validation, settings, raw_files=paths)


def _manifest(raw_dir: Path, fingerprint: str, tables: dict[str, pa.Table]) -> dict:
    """The manifest stored next to a lake version (validation details are added later)."""
    first, last = _date_range(tables[schema.TRANSACTIONS])
    return {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "raw_dir": str(Path(raw_dir).resolve()),
        "fingerprint": fingerprint,
        "rows": {name: t.num_rows for name, t in tables.items()},
        "first_date": first,
        "last_date": last,
    }


def ingest(
    raw_dir: Path,
    settings: Settings,
    *,
    progress: bool = True,
    force: bool = False,
    publish: bool = True,
) -> IngestResult:
    """Read, type, validate and (if ``publish``) publish the raw files as a new lake version."""
    start = time.perf_counter()
    lake = Lake(settings.paths.lake)
    paths = raw_paths(Path(raw_dir))
    fingerprint = files_fingerprint(paths, validation_key(settings))
    if publish and not force and lake.current_version():
        manifest = lake.manifest()
        if manifest.get("fingerprint") == fingerprint:
            log.info("lake version %s already holds these files", manifest["version"])
            return _result_from_manifest(manifest, time.perf_counter() - start)
    clock = _Clock()
    with lake.staging() as stage:
        tables = _stage_tables(paths, stage, settings, progress, clock)
        manifest = _manifest(raw_dir, fingerprint, tables)
        report = _validate(tables, paths, settings)  # consumes the in-memory tables
        clock.lap("validation")
        if not report.success:
            raise ValidationFailed(report, "validation failed: nothing was published")
        manifest["validation"] = {
            "success": report.success,
            "run_id": report.run_id,
            "json": str(report.json_path),
            "docs": str(report.docs_path),
        }
        version = lake.publish(stage, manifest, settings.keep_versions) if publish else None
    result = _result_from_manifest(
        manifest, time.perf_counter() - start, version=version, report=report, skipped=False
    )
    result.timings = clock.laps
    return result


def _stage_tables(
    paths: dict[str, Path], stage: Path, settings: Settings, progress: bool, clock: _Clock
) -> dict[str, pa.Table]:
    """Write the typed tables into the staging folder; returns them (in memory) for validation."""
    tables = {
        name: read_typed(paths[name], SPECS[name], settings.csv_block_mb)
        for name in (schema.ARTICLES, schema.CUSTOMERS)
    }
    for name, table in tables.items():
        pq.write_table(table, stage / f"{name}.parquet", compression="zstd")
    clock.lap("articles+customers")
    tables[schema.TRANSACTIONS] = stream_transactions(
        paths[schema.TRANSACTIONS], stage / schema.TRANSACTIONS, settings, progress
    )
    clock.lap("transactions")
    return tables


class _Clock:
    """Wall-clock laps of the ingest stages."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Record the time since the previous lap under ``name``."""
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 2)
        self._last = now


def _result_from_manifest(
    manifest: dict, seconds: float, version: str | None = None, report=None, skipped: bool = True
) -> IngestResult:
    """An IngestResult describing a manifest (a new version, or the one already live)."""
    return IngestResult(
        version=version if not skipped else manifest.get("version"),
        rows=dict(manifest["rows"]),
        weeks=_n_weeks(manifest),
        first_date=manifest["first_date"],
        last_date=manifest["last_date"],
        seconds=seconds,
        skipped=skipped,
        published=version is not None and not skipped,
        report=report,
    )


def _n_weeks(manifest: dict) -> int:
    """Number of Wednesday..Tuesday weeks between the manifest's first and last date."""
    if not manifest.get("first_date"):
        return 0
    first = schema.week_end(dt.date.fromisoformat(manifest["first_date"]))
    last = schema.week_end(dt.date.fromisoformat(manifest["last_date"]))
    return int(np.round((last - first).days / 7)) + 1


def validate_live(settings: Settings):
    """Re-run the suites on the live lake version (rows are numbered by position, not line)."""
    from recsys.validation import validate_tables

    lake = Lake(settings.paths.lake)
    manifest = lake.manifest()
    frames = {}
    for name in (schema.ARTICLES, schema.CUSTOMERS, schema.TRANSACTIONS):
        frames[name] = lake.read(name).to_pandas(date_as_object=False, self_destruct=True)
        if name == schema.TRANSACTIONS and schema.WEEK in frames[name]:
            frames[name] = frames[name].drop(columns=[schema.WEEK])
    raw_files = {name: Path(manifest["raw_dir"]) / SPECS[name].file for name in frames}
    return validate_tables(frames, settings.paths.validation, settings, raw_files=raw_files)
