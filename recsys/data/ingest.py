"""Ingest: raw Kaggle CSVs -> validated, typed Parquet in a new lake version (published atomically).

How data arrives: the raw folder (``hm ingest --raw RAW``) holds::

    RAW/articles.csv                 the whole catalogue, replaced when it changes
    RAW/customers.csv                every customer, replaced when it changes (new ones each week)
    RAW/transactions_train.csv       the history in Kaggle's format (optional with week files)
    RAW/transactions/YYYY-MM-DD.csv  one file per week (optional), Kaggle's transactions header,
                                     named by the Tuesday closing the week (Wednesday..Tuesday)

Two delivery styles follow this one convention: (a) full files replaced each week, the new
``transactions_train.csv`` being the previous one with the new rows appended; (b) increments, a
new ``transactions/<tuesday>.csv`` dropped beside the history each week. A week's rows come from
one file only and a week file holds its own week only (else a :class:`RawDataError` naming the
file, ``t_dat`` and example lines).

Identity: every file is hashed in full (xxh3-128, stat-cached: :mod:`recsys.data.fingerprint`),
together with the validation settings that differ from their defaults, never today's date (rows
are still checked not to lie in the future). The same identity as the live version: nothing to do.

Otherwise the new version is appended to the live one when only new rows (or new articles and
customers tables) arrived (:mod:`recsys.data.increment`): only the new rows are parsed and
validated, with their foreign keys checked against the new articles and customers; weeks they do
not touch are hard links of the live version's files, a week they touch is rewritten as its live
rows plus the new ones. Anything else is a full ingest: every file parsed, all rows validated.

Either way the version is written into a staging folder, validated with Great Expectations, and
only then published; on any error the staging folder is deleted and the live version stays.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys import schema
from recsys.data import raw
from recsys.data.arrival import Delivery, Source, WeekOwners, discover
from recsys.data.errors import RawDataError, ValidationFailed
from recsys.data.fingerprint import Digest, HashCache, combine, stamp
from recsys.data.increment import Plan, digest_sources, dropped_ids, full_plan, plan_ingest
from recsys.data.known_customers import KnownCustomers
from recsys.data.lake import Lake
from recsys.data.lines import ReadLines
from recsys.data.origins import Origins
from recsys.data.partition import WeekPartitionWriter, link_or_copy, link_partitions
from recsys.data.raw import FIRST_DATA_LINE, SPECS
from recsys.settings import Settings

log = logging.getLogger(__name__)
# the settings that change what validation accepts; only values other than the default count
VALIDATION_SETTINGS = ("price_min", "price_max", "date_min", "date_max", "age_min", "age_max")
# the columns of articles and customers that the transactions' foreign-key checks need
REFERENCE_COLUMNS = {
    schema.ARTICLES: [schema.ARTICLE_ID],
    schema.CUSTOMERS: [schema.CUSTOMER_ID, schema.CUSTOMER_HEX],
}


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
    mode: str | None = None  # "full" or "append" (None when skipped)
    reason: str | None = None  # why that mode


def validation_key(settings: Settings) -> str:
    """The validation settings set to other values than their defaults (part of the data's
    identity); today's date, the default latest date, is not part of it."""
    fields = type(settings).model_fields
    values = {name: getattr(settings, name) for name in VALIDATION_SETTINGS}
    return ";".join(f"{k}={v}" for k, v in values.items() if v != fields[k].default)


def lined_frame(table: pa.Table, index: pd.Index | None = None) -> pd.DataFrame:
    """A pandas frame whose index is ``index`` (each row's line in its CSV file), by default
    the lines of a file read row by line."""
    frame = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
    frame.index = (
        index
        if index is not None
        else pd.RangeIndex(FIRST_DATA_LINE, FIRST_DATA_LINE + len(frame), name="line")
    )
    return frame


def ingest(
    raw_dir: Path,
    settings: Settings,
    *,
    progress: bool = True,
    force: bool = False,
    publish: bool = True,
) -> IngestResult:
    """Read, type, validate and (if ``publish``) publish the raw folder as a new lake version:
    appended to the live version when only new rows arrived, else in full."""
    start = time.perf_counter()
    clock = _Clock()
    lake = Lake(settings.paths.lake)
    delivery = discover(Path(raw_dir))
    live = lake.manifest() if lake.current_version() else None
    digests = digest_sources(delivery, live, HashCache(settings.paths.file_hashes))
    key = validation_key(settings)
    fingerprint = combine({name: d.hash for name, d in digests.items()}, key)
    clock.lap("fingerprint")
    if publish and not force and live and live.get("fingerprint") == fingerprint:
        log.info("lake version %s already holds these files", live["version"])
        return _result_from_manifest(live, time.perf_counter() - start)
    reason = "--force" if force else None if publish else "a dry run validates every file"
    plan = plan_ingest(delivery, digests, live, key, reason)
    plan, small, lines = _small_tables(delivery, plan, lake, settings)
    log.info("%s ingest: %s", plan.mode, plan.reason)
    clock.lap("articles+customers")
    with lake.staging() as stage:
        staged = _stage(delivery, plan, small, lake, stage, settings, progress, live)
        clock.lap("transactions")
        _unchanged_since(delivery, digests)
        staged.lines.update({s.name: lines[s.table].last_line() for s in _parsed(delivery, lines)})
        manifest = _manifest(delivery, (fingerprint, key), digests, plan, small, staged, live)
        report = _validate(delivery, plan, small, staged, settings, lines)  # consumes the tables
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
    result.timings, result.mode, result.reason = clock.laps, plan.mode, plan.reason
    return result


def _small_tables(
    delivery: Delivery, plan: Plan, lake: Lake, settings: Settings
) -> tuple[Plan, dict[str, pa.Table], dict[str, ReadLines]]:
    """Articles and customers: parsed if changed (all in a full ingest), else the live ones, and
    the lines of the parsed ones. An append becomes a full ingest if a new table drops ids the
    lake's transactions use."""
    sources = (delivery.articles, delivery.customers)
    tables, lines = {}, {}
    for s in sources:
        tables[s.table] = _small_table(s, plan, lake, settings, lines)
    changed = [s for s in sources if plan.append and s.name in plan.changed]
    reasons = (dropped_ids(lake, s.table, tables[s.table], s.name) for s in changed)
    why = next(filter(None, reasons), None)
    if why is None:
        return plan, tables, lines
    log.warning("full re-ingest instead of an append: %s", why)
    full = full_plan(delivery, why)
    for s in sources:
        if s.name not in plan.changed:
            tables[s.table] = _small_table(s, full, lake, settings, lines)
    return full, tables, lines


def _small_table(
    source: Source, plan: Plan, lake: Lake, settings: Settings, lines: dict[str, ReadLines]
) -> pa.Table:
    """Articles or customers: the live version's if the file did not change, else parsed (its
    lines kept in ``lines``)."""
    if plan.reuses(source):
        return lake.read(source.table)
    table, lines[source.table] = raw.read_lined(
        source.path, SPECS[source.table], settings.csv_block_mb
    )
    return table


def _parsed(delivery: Delivery, lines: dict[str, ReadLines]) -> list[Source]:
    """The articles and customers files parsed in this run."""
    return [s for s in (delivery.articles, delivery.customers) if s.table in lines]


@dataclass
class Staged:
    """The transactions of a staged version: the rows parsed in this run and what was kept."""

    table: pa.Table | None = None  # the rows parsed in this run (validated)
    origins: Origins = field(default_factory=Origins)
    weeks: dict[str, Counter[str]] = field(default_factory=dict)  # file -> rows parsed per week
    lines: dict[str, int] = field(default_factory=dict)  # file -> its last line read
    written: list[str] = field(default_factory=list)  # weeks that got new rows
    rewritten: list[str] = field(default_factory=list)  # ... of them, live weeks rewritten
    linked: list[str] = field(default_factory=list)  # weeks linked from the live version


def _stage(
    delivery: Delivery,
    plan: Plan,
    small: dict[str, pa.Table],
    lake: Lake,
    stage: Path,
    settings: Settings,
    progress: bool,
    live: dict | None,
) -> Staged:
    """Write the version's tables into ``stage``: articles and customers (linked when
    unchanged), the new transaction rows, and the live weeks they do not touch (linked)."""
    for source in (delivery.articles, delivery.customers):
        target = stage / f"{source.table}.parquet"
        if plan.reuses(source):
            link_or_copy(lake.current_dir() / target.name, target)
        else:
            pq.write_table(small[source.table], target, compression="zstd")
    previous = lake.current_dir() / schema.TRANSACTIONS if plan.append else None
    owners = WeekOwners.of(live["sources"] if plan.append and live else {})
    root = stage / schema.TRANSACTIONS
    known = KnownCustomers.of(small[schema.CUSTOMERS])
    staged = _stream_reads(plan, root, previous, owners, known, settings, progress)
    if previous is not None:
        staged.linked = link_partitions(previous, root, set(staged.written))
    return staged


def _stream_reads(
    plan: Plan,
    root: Path,
    previous: Path | None,
    owners: WeekOwners,
    known: KnownCustomers,
    settings: Settings,
    progress: bool,
) -> Staged:
    """Parse the plan's reads into week files under ``root`` (a live week in ``previous`` that
    gets rows is rewritten, its live rows first), checking the week rules and the customers'
    full ids on the way."""
    writer = WeekPartitionWriter(root, previous=previous)
    staged = Staged()
    batches = []
    try:
        for read in plan.reads:
            name, rows = read.source.name, 0
            weeks = staged.weeks.setdefault(name, Counter())
            parse = raw.stream_typed(
                read.source.path,
                SPECS[schema.TRANSACTIONS],
                settings.csv_block_mb,
                progress,
                read.offset,
                read.first_line,
                known,
            )
            for lines, batch in parse:
                weeks.update(owners.claim(read.source, lines, batch))
                writer.write(batch)
                batches.append(batch)
                rows += batch.num_rows
            staged.origins.add(name, read.first_line, rows, parse.lines)
            staged.lines[name] = parse.lines.last_line()
    finally:
        staged.written = writer.close()
    staged.rewritten = writer.rewritten
    staged.table = pa.Table.from_batches(batches, schema=schema.TRANSACTION_SCHEMA)
    return staged


def _unchanged_since(delivery: Delivery, digests: dict[str, Digest]) -> None:
    """Raise if a file changed between its hashing and now (a copy still under way)."""
    for source in delivery.sources:
        if tuple(stamp(source.path)) != digests[source.name].stat:
            raise RawDataError(
                source.path,
                "file changed while it was being ingested",
                hint="ingest again once the copy is done",
            )


def _sources(
    delivery: Delivery,
    digests: dict[str, Digest],
    small: dict[str, pa.Table],
    staged: Staged,
    old: dict[str, dict],
) -> dict[str, dict]:
    """What the manifest records of each file: hash, size, lines (header included) and, for
    transactions, rows per week (those of the live version's record plus the new ones)."""
    records = {}
    for source in delivery.sources:
        digest = digests[source.name]
        record: dict = {"hash": digest.hash, "size": digest.size}
        if source.table == schema.TRANSACTIONS:
            before = old.get(source.name, {})
            weeks = Counter(before.get("weeks", {})) + staged.weeks.get(source.name, Counter())
            record["lines"] = staged.lines.get(source.name, before.get("lines"))
            record["weeks"] = dict(sorted(weeks.items()))
        else:
            record["lines"] = staged.lines.get(source.name, old.get(source.name, {}).get("lines"))
        records[source.name] = record
    return records


def _manifest(
    delivery: Delivery,
    identity: tuple[str, str],
    digests: dict[str, Digest],
    plan: Plan,
    small: dict[str, pa.Table],
    staged: Staged,
    live: dict | None,
) -> dict:
    """The manifest stored next to a lake version (validation details are added later)."""
    base = live if plan.append and live else {"rows": {}, "sources": {}}
    first, last = _date_range(staged.table, base.get("first_date"), base.get("last_date"))
    n_old = base["rows"].get(schema.TRANSACTIONS, 0)
    return {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "raw_dir": str(delivery.root.resolve()),
        "fingerprint": identity[0],
        "validation_key": identity[1],
        "rows": {
            schema.ARTICLES: small[schema.ARTICLES].num_rows,
            schema.CUSTOMERS: small[schema.CUSTOMERS].num_rows,
            schema.TRANSACTIONS: n_old + staged.table.num_rows,
        },
        "first_date": first,
        "last_date": last,
        "sources": _sources(delivery, digests, small, staged, base["sources"]),
        "ingest": {
            "mode": plan.mode,
            "reason": plan.reason,
            "parsed": {
                s.name: {"from_line": s.first_line, "rows": s.rows} for s in staged.origins.spans
            },
            "weeks_written": staged.written,
            "weeks_rewritten": staged.rewritten,
            "weeks_linked": len(staged.linked),
        },
    }


def _date_range(
    transactions: pa.Table, first: str | None = None, last: str | None = None
) -> tuple[str | None, str | None]:
    """First and last transaction date as ISO strings (widening ``first``..``last``)."""
    bounds = pc.min_max(transactions.column(schema.T_DAT))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    dates = [d for d in (first, low and low.isoformat()) if d]
    ends = [d for d in (last, high and high.isoformat()) if d]
    return (min(dates) if dates else None, max(ends) if ends else None)


def _validate(
    delivery: Delivery,
    plan: Plan,
    small: dict[str, pa.Table],
    staged: Staged,
    settings: Settings,
    lines: dict[str, ReadLines],
):
    """Run the suites on what this run parsed: changed articles/customers (all in a full ingest)
    and the new transaction rows, whose foreign keys are checked against the new tables."""
    from recsys.validation import validate_tables

    checked = {s.table for s in (delivery.articles, delivery.customers) if s.name in plan.changed}
    frames = {name: lined_frame(small[name], lines[name].index()) for name in checked}
    references = {
        name: lined_frame(small[name].select(REFERENCE_COLUMNS[name]))
        for name in small
        if name not in checked
    }
    if staged.table.num_rows:
        frames[schema.TRANSACTIONS] = lined_frame(staged.table, staged.origins.index())
    first = delivery.root / (staged.origins.names or [delivery.transactions[0].name])[0]
    paths = {
        schema.ARTICLES: delivery.articles.path,
        schema.CUSTOMERS: delivery.customers.path,
        schema.TRANSACTIONS: first,
    }
    report = validate_tables(
        frames, settings.paths.validation, settings, raw_files=paths, references=references
    )
    staged.origins.relabel(report)
    return report


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
