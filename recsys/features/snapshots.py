"""Windowed feature snapshots: one Parquet file per entity and cutoff, the Feast offline store.

``features_dir/<entity>/<YYYY-MM-DD>.parquet`` holds the entity id (``customer_id`` int64 or
``article_id`` int32), ``event_timestamp`` (the cutoff at 00:00 UTC) and exactly the columns of
:mod:`recsys.features.spec`, in spec order, with the spec's dtypes; one row per customer
(cold-start ones included) or per article of the live lake version. Only transactions strictly
before the cutoff are read. Files are written atomically and carry, in their Parquet key-value
metadata, the lake version they were built from and the digest of what they read
(:func:`recsys.data.digest.lake_digest` up to the day before the cutoff): re-runs, and runs
after a new week arrived, skip every snapshot whose digest is unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recsys import schema
from recsys.data.digest import lake_digest
from recsys.data.fingerprint import HashCache
from recsys.data.lake import Lake
from recsys.features.article import article_snapshot_sql
from recsys.features.article import prepare as prepare_articles
from recsys.features.customer import customer_snapshot_sql
from recsys.features.customer import prepare as prepare_customers
from recsys.features.customer_parts import CustomerParts, customer_snapshot_in_parts
from recsys.features.pairdays import load_base_tables, use_cutoff
from recsys.features.spec import article_features, customer_features
from recsys.features.sql import connect, quote

ENTITIES = ("customer", "article")
LAKE_VERSION_KEY = "hm.lake_version"
DIGEST_KEY = "hm.read_digest"  # lake_digest of the transactions before the cutoff and tables
CUTOFF_KEY = "hm.cutoff"
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
_SQL: dict[str, Callable[[dt.date, str], str]] = {
    "customer": customer_snapshot_sql,
    "article": article_snapshot_sql,
}


class SnapshotError(ValueError):
    """A snapshot file is missing or does not match the feature contract."""


class SnapshotMissingError(SnapshotError, FileNotFoundError):
    """A snapshot file does not exist (also a :class:`FileNotFoundError`)."""


@dataclass
class SnapshotInfo:
    """One snapshot file: where it is, its rows and the seconds spent building it.

    ``seconds`` is 0 for a snapshot skipped as up to date (``skipped``); the shared base table
    (see :mod:`recsys.features.pairdays`) is timed with the first file built.
    """

    cutoff: dt.date
    entity: str
    path: Path
    rows: int
    seconds: float
    skipped: bool = False


def snapshot_path(features_dir: Path, entity: str, cutoff: dt.date) -> Path:
    """``features_dir/<entity>/<YYYY-MM-DD>.parquet``."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}: expected one of {ENTITIES}")
    return Path(features_dir) / entity / f"{cutoff.isoformat()}.parquet"


def built_cutoffs(features_dir: Path, entities: Iterable[str] = ENTITIES) -> list[dt.date]:
    """Cutoffs with a snapshot file for every one of ``entities``, oldest first."""
    found: set[dt.date] | None = None
    for entity in entities:
        folder = snapshot_path(features_dir, entity, dt.date.min).parent
        days = set()
        for path in folder.glob("*.parquet") if folder.is_dir() else []:
            try:
                days.add(dt.date.fromisoformat(path.stem))
            except ValueError:
                continue
        found = days if found is None else found & days
    return sorted(found or ())


def latest_cutoff(features_dir: Path, entities: Iterable[str] = ENTITIES) -> dt.date | None:
    """The newest cutoff with a snapshot file for every one of ``entities`` (None if none)."""
    cutoffs = built_cutoffs(features_dir, entities)
    return cutoffs[-1] if cutoffs else None


def snapshot_schema(entity: str) -> pa.Schema:
    """The exact Arrow schema of an ``entity`` snapshot file."""
    if entity == "customer":
        key, specs = pa.field(schema.CUSTOMER_ID, pa.int64()), customer_features()
    elif entity == "article":
        key, specs = pa.field(schema.ARTICLE_ID, pa.int32()), article_features()
    else:
        raise ValueError(f"unknown entity {entity!r}: expected one of {ENTITIES}")
    fields = [key, pa.field(schema.EVENT_TIMESTAMP, TIMESTAMP_TYPE)]
    return pa.schema(fields + [pa.field(s.name, s.dtype) for s in specs])


def _timestamp_sql(cutoff: dt.date) -> str:
    """The cutoff at midnight UTC as a DuckDB TIMESTAMPTZ literal."""
    return f"TIMESTAMPTZ '{cutoff.isoformat()} 00:00:00+00'"


def _write(con, sql: str, path: Path, metadata: dict[str, str]) -> None:
    """COPY the query result to ``path`` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    kv = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in metadata.items())
    try:
        con.execute(
            f"COPY ({sql}) TO {quote(str(tmp))} "
            f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv}}})"
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _session(features_dir: Path) -> Iterator:
    """A DuckDB connection spilling into a private folder under ``features_dir``."""
    tmp_dir = Path(features_dir) / f".duckdb-{uuid.uuid4().hex[:8]}"
    con = connect(tmp_dir)
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _build_entities(
    con,
    lake: Lake,
    cutoff: dt.date,
    features_dir: Path,
    entities: list[str],
    digest: str,
    parts: tuple[CustomerParts, dt.date] | None = None,
) -> list[SnapshotInfo]:
    """Write the snapshots of ``entities`` for ``cutoff`` from the loaded base tables
    (``digest``: :func:`read_digest` of the cutoff, kept in the files' metadata); with
    ``parts`` (where, and the day the base tables end), the customers' in parts there."""
    start = time.perf_counter()
    use_cutoff(con, cutoff)
    prepare_articles(con, cutoff)
    if "customer" in entities and parts is None:
        prepare_customers(con, cutoff)
    meta = {
        LAKE_VERSION_KEY: lake.current_version() or "",
        CUTOFF_KEY: cutoff.isoformat(),
        DIGEST_KEY: digest,
    }
    infos = []
    for entity in entities:
        path = snapshot_path(features_dir, entity, cutoff)
        folder = path.parent / f".parts-{uuid.uuid4().hex[:8]}"
        try:
            if entity == "customer" and parts is not None:
                where, until = parts
                ts = _timestamp_sql(cutoff)
                sql = customer_snapshot_in_parts(con, lake, until, cutoff, ts, where, folder)
            else:
                sql = _SQL[entity](cutoff, _timestamp_sql(cutoff))
            _write(con, sql, path, meta)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows = pq.ParquetFile(path).metadata.num_rows
        infos.append(SnapshotInfo(cutoff, entity, path, rows, time.perf_counter() - start))
        start = time.perf_counter()
    return infos


def build_snapshot(
    lake: Lake,
    cutoff: dt.date,
    features_dir: Path,
    entities: Iterable[str] = ENTITIES,
) -> list[SnapshotInfo]:
    """Build (overwrite) the snapshots of ``entities`` for one cutoff from the live lake."""
    entities = list(entities)
    for entity in entities:
        snapshot_path(features_dir, entity, cutoff)  # validates the entity name
    with _session(features_dir) as con:
        start = time.perf_counter()
        load_base_tables(con, lake, cutoff)
        base = time.perf_counter() - start
        digest = read_digest(lake, cutoff)
        infos = _build_entities(con, lake, cutoff, features_dir, entities, digest)
    if infos:
        infos[0].seconds += base
    return infos


def _file_metadata(path: Path) -> dict[str, str] | None:
    """The Parquet key-value metadata of ``path``; None if it is missing or unreadable."""
    try:
        raw = pq.ParquetFile(path).metadata.metadata or {}
    except (OSError, pa.ArrowException):
        return None
    return {k.decode(): v.decode() for k, v in raw.items()}


def snapshot_version(features_dir: Path, cutoff: dt.date) -> str:
    """``<cutoff>@<lake version>``: which snapshots of ``cutoff`` (the lake version they were
    built from names their content; the online store's stamp)."""
    versions = []
    for entity in ENTITIES:
        meta = _file_metadata(snapshot_path(features_dir, entity, cutoff)) or {}
        versions.append(meta.get(LAKE_VERSION_KEY) or "unknown")
    return f"{cutoff.isoformat()}@{'+'.join(sorted(set(versions)))}"


def read_digest(lake: Lake, cutoff: dt.date, hashes: HashCache | None = None) -> str:
    """The digest of what ``cutoff``'s snapshots read: the live articles and customers and the
    transaction weeks ending before the cutoff."""
    return lake_digest(lake, cutoff - dt.timedelta(days=1), hashes)


def is_up_to_date(path: Path, digest: str) -> bool:
    """True if ``path`` exists and was built from data of :func:`read_digest` ``digest``."""
    meta = _file_metadata(path)
    return meta is not None and meta.get(DIGEST_KEY) == digest


def _skipped(path: Path, entity: str, cutoff: dt.date) -> SnapshotInfo:
    """The info of an up-to-date snapshot left as it is."""
    rows = pq.ParquetFile(path).metadata.num_rows
    return SnapshotInfo(cutoff, entity, path, rows, 0.0, skipped=True)


def _stale(
    cutoffs: list[dt.date],
    features_dir: Path,
    entities: list[str],
    force: bool,
    digests: dict[dt.date, str],
) -> dict[dt.date, list[str]]:
    """Per cutoff, the entities whose snapshot must be (re)built."""
    return {
        c: [
            e
            for e in entities
            if force or not is_up_to_date(snapshot_path(features_dir, e, c), digests[c])
        ]
        for c in cutoffs
    }


def build_snapshots(
    lake: Lake,
    cutoffs: list[dt.date],
    features_dir: Path,
    progress: bool = True,
    force: bool = False,
    entities: Iterable[str] = ENTITIES,
    hashes: HashCache | None = None,
    parts: CustomerParts | None = None,
) -> list[SnapshotInfo]:
    """Build the snapshots of every cutoff, skipping files already up to date (unless ``force``).

    The transactions are read and sorted once, up to the newest cutoff to build, and every
    cutoff's snapshots are aggregates of that shared base (timed with the first file built).
    ``hashes``: the stat cache the lake's files are hashed through (the home's keeps their hashes
    across runs; default: one for this call, each file hashed once for all the cutoffs).
    ``parts``: build each customer snapshot in customer id ranges, a task each there (a Dask
    cluster's workers: :mod:`recsys.features.customer_parts`); the same files.
    Returns one info per cutoff and entity, oldest cutoff first (``skipped`` ones included).
    """
    from tqdm.auto import tqdm

    entities = list(entities)
    hashes = hashes or HashCache(None)
    digests = {c: read_digest(lake, c, hashes) for c in cutoffs}
    stale = _stale(cutoffs, features_dir, entities, force, digests)
    todo = [c for c in cutoffs if stale[c]]
    infos: list[SnapshotInfo] = []
    with ExitStack() as stack:
        if todo:
            con = stack.enter_context(_session(features_dir))
            start = time.perf_counter()
            load_base_tables(con, lake, max(todo))
            base = time.perf_counter() - start
        for cutoff in tqdm(cutoffs, desc="feature snapshots", unit="cutoff", disable=not progress):
            split = None if parts is None else (parts, max(todo))
            built = (
                _build_entities(
                    con, lake, cutoff, features_dir, stale[cutoff], digests[cutoff], split
                )
                if stale[cutoff]
                else []
            )
            if built and cutoff == todo[0]:
                built[0].seconds += base
            done = {i.entity: i for i in built}
            infos += [
                done.get(e) or _skipped(snapshot_path(features_dir, e, cutoff), e, cutoff)
                for e in entities
            ]
    return infos


def read_snapshot(features_dir: Path, entity: str, cutoff: dt.date) -> pa.Table:
    """The snapshot of ``entity`` at ``cutoff``; :class:`SnapshotError` naming the file if it is
    missing, unreadable or its columns/dtypes differ from the spec."""
    path = snapshot_path(features_dir, entity, cutoff)
    if not path.exists():
        raise SnapshotMissingError(
            f"missing {entity} snapshot for cutoff {cutoff}: {path} does not exist "
            "(build it with recsys.features.snapshots.build_snapshots)"
        )
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotError(f"unreadable {entity} snapshot {path}: {exc}") from exc
    expected = snapshot_schema(entity)
    got = [(f.name, f.type) for f in table.schema]
    want = [(f.name, f.type) for f in expected]
    if got != want:
        diff = [f"{g} != {w}" for g, w in zip(got, want, strict=False) if g != w][:5]
        raise SnapshotError(
            f"invalid {entity} snapshot {path}: columns/dtypes differ from the spec "
            f"({len(got)} columns, expected {len(want)}; first differences: {diff})"
        )
    return table.replace_schema_metadata(None).cast(expected)
