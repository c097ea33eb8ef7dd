"""Materialization: one weekly snapshot into the online store (SQLite tables or Redis hashes).

Writes go through Feast's own online-store tables / hashes, with a vectorised serialisation of
the very ValueProto bytes Feast writes (``_convert_arrow_to_proto`` + ``online_write_batch``
spend ~1 µs per value in Python; the H&M scale has ~130M values per cutoff), less the null
values, which Feast's readers return as None with or without a row or field. Snapshots are
validated completely before anything is written.

Publishing is atomic: both views switch to the new cutoff together, or not at all, and the
stamp always names what is served. SQLite: a new database (Feast's tables + our stamp table) is
built beside the live file and renamed over it. Redis: two key slots (blue/green); the slot not
served is rewritten, then one SET of the stamp switches readers to it.
"""

from __future__ import annotations

import datetime as dt
import glob
import itertools
import os
import sqlite3
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from feast import FeatureStore, FeatureView
from tqdm.auto import tqdm

from recsys.features import redis_rows, snapshots, sqlite_rows
from recsys.features.snapshots import SnapshotError
from recsys.features.store import (
    IDS_KEY,
    KINDS,
    SLOTS,
    STAMP_KEY,
    STAMP_TABLE,
    VIEWS,
    Online,
    Stamp,
    encode_redis_stamp,
    ids_key,
    online_db,
    online_kind,
    open_store,
    redis_client,
    redis_stamp,
    slot_suffix,
)
from recsys.settings import Settings
from recsys.swap import fsync

BATCH = 20_000
SCAN = 10_000  # Redis keys per SCAN / UNLINK call

# --- snapshots --------------------------------------------------------------------------------


def snapshot_path(settings: Settings, kind: str, cutoff: dt.date) -> Path:
    """The snapshot file of one entity kind and cutoff under the settings' home."""
    return snapshots.snapshot_path(settings.paths.features, kind, cutoff)


def expected_schema(kind: str) -> pa.Schema:
    """The exact Arrow schema of a snapshot (id, event_timestamp, spec columns)."""
    return snapshots.snapshot_schema(kind)


def read_snapshot(settings: Settings, kind: str, cutoff: dt.date) -> pa.Table:
    """Read one snapshot, checked against the contract and row by row (ids, timestamps)."""
    table = snapshots.read_snapshot(settings.paths.features, kind, cutoff)
    _check_rows(table, snapshot_path(settings, kind, cutoff), kind, cutoff)
    return table


def _check_rows(table: pa.Table, path: Path, kind: str, cutoff: dt.date) -> None:
    """Ids present and unique, every event_timestamp equal to the cutoff's midnight."""
    ids = table.column(KINDS[kind])
    if ids.null_count or len(pa.compute.unique(ids)) != len(ids):
        raise SnapshotError(f"{kind} snapshot {path}: {KINDS[kind]} has nulls or duplicates")
    ts = table.column("event_timestamp")
    want = pa.scalar(cutoff_datetime(cutoff), pa.timestamp("us", tz="UTC"))
    if len(table) and (ts.null_count or not pa.compute.all(pa.compute.equal(ts, want)).as_py()):
        raise SnapshotError(f"{kind} snapshot {path}: event_timestamp is not {want}")


def cutoff_datetime(cutoff: dt.date) -> dt.datetime:
    """Midnight UTC of a cutoff date."""
    return dt.datetime.combine(cutoff, dt.time(), tzinfo=dt.UTC)


# --- ValueProto / entity-key serialisation ----------------------------------------------------

# ValueProto field tags: (field number << 3) | wire type.
_FIXED = {pa.float32(): (0x35, "<f4", 4), pa.float64(): (0x29, "<f8", 8)}
_VARINT = {pa.int32(): 0x18, pa.int64(): 0x20, pa.bool_(): 0x38}


def _binary_list(matrix: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """Row ``i`` of ``matrix`` cut to ``lengths[i]`` bytes, as a list of ``bytes``."""
    mask = np.arange(matrix.shape[1]) < lengths[:, None]
    data = np.ascontiguousarray(matrix[mask])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    arr = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return arr.to_pylist()


def _varint_matrix(values: np.ndarray, tag: int) -> tuple[np.ndarray, np.ndarray]:
    """Tag + base-128 varint of int64 ``values`` (two's complement, as protobuf does)."""
    u = values.astype(np.int64).view(np.uint64)
    shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)
    groups = ((u[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    n_groups = 1 + (u[:, None] >= (np.uint64(1) << shifts[1:])).sum(axis=1)
    groups[np.arange(10) < (n_groups - 1)[:, None]] |= 0x80
    matrix = np.empty((len(u), 11), dtype=np.uint8)
    matrix[:, 0] = tag
    matrix[:, 1:] = groups
    return matrix, 1 + n_groups


def value_matrix(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Serialised ``ValueProto`` of each value as (row-per-value byte matrix, lengths): row
    ``i`` cut to ``lengths[i]`` bytes is value ``i``'s bytes, as Feast's materialization writes.

    Nulls and float NaN have length 0 (the empty Value), which Feast reads back as None.
    """
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return _string_matrix(column.to_pylist())
    if column.type in _FIXED:
        tag, fmt, width = _FIXED[column.type]
        values = column.fill_null(0).to_numpy().astype(fmt)
        valid &= ~np.isnan(values)  # Feast writes NaN as an empty (null) Value
        matrix = np.empty((len(values), 1 + width), dtype=np.uint8)
        matrix[:, 0] = tag
        matrix[:, 1:] = values.view(np.uint8).reshape(-1, width)
        lengths = np.full(len(values), 1 + width, dtype=np.int64)
    elif column.type in _VARINT:
        values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        matrix, lengths = _varint_matrix(values, _VARINT[column.type])
    else:
        raise TypeError(f"no ValueProto encoding for Arrow type {column.type}")
    return matrix, np.where(valid, lengths, 0)


def _string_matrix(strings: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(byte matrix, lengths) of ``Value(string_val=s)`` of each string (None: empty)."""
    from feast.protos.feast.types.Value_pb2 import Value

    encoded = [Value(string_val=s).SerializeToString() if s is not None else b"" for s in strings]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    matrix = np.zeros((len(encoded), int(lengths.max(initial=0))), dtype=np.uint8)
    matrix[np.arange(matrix.shape[1]) < lengths[:, None]] = np.frombuffer(
        b"".join(encoded), dtype=np.uint8
    )
    return matrix, lengths


def encode_values(column: pa.Array | pa.ChunkedArray) -> list[bytes]:
    """Serialised ``ValueProto`` of each value, byte for byte as Feast's materialization does.

    Nulls and float NaN become the empty Value (``b""``), which Feast reads back as None.
    """
    return _binary_list(*value_matrix(column))


def entity_key_matrix(join_key: str, ids: np.ndarray) -> np.ndarray:
    """Feast's v3 ``serialize_entity_key`` of single INT64 join-key values, a row per id."""
    name = join_key.encode()
    prefix = struct.pack("<III", 1, 2, len(name)) + name + struct.pack("<II", 4, 8)
    matrix = np.empty((len(ids), len(prefix) + 8), dtype=np.uint8)
    matrix[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    matrix[:, len(prefix) :] = np.asarray(ids).astype("<i8").view(np.uint8).reshape(-1, 8)
    return matrix


def entity_keys(join_key: str, ids: np.ndarray) -> list[bytes]:
    """Feast's v3 ``serialize_entity_key`` of single INT64 join-key values, vectorised."""
    matrix = entity_key_matrix(join_key, ids)
    return _binary_list(matrix, np.full(len(ids), matrix.shape[1], dtype=np.int64))


# --- writing to the online store ---------------------------------------------------------------


def _batches(n: int, size: int = BATCH) -> Iterator[slice]:
    """Consecutive row slices of at most ``size`` rows."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def key_order(ids: np.ndarray) -> np.ndarray:
    """Order of ``ids`` by their serialised entity key bytes (little-endian int64 suffix)."""
    return np.argsort(np.asarray(ids, dtype="<i8").view(">u8"), kind="stable")


def _pack(part: pa.Table, key: str, feats: list[str]) -> sqlite_rows.Packed:
    """The rows of a slice of a snapshot (sorted by key), packed for SQLite to expand."""
    keys = entity_key_matrix(key, part.column(key).to_numpy())
    values = [value_matrix(part.column(f)) for f in feats]
    texts = [sqlite_rows.value_texts(part.column(f).combine_chunks()) for f in feats]
    return sqlite_rows.pack(keys, feats, values, texts)


def _write_sqlite(
    conn: sqlite3.Connection,
    store: FeatureStore,
    view: FeatureView,
    table: pa.Table,
    key: str,
    bar: tqdm,
) -> None:
    """Insert one view's rows into its (empty) Feast table of the database ``conn`` builds.

    Entities sorted by key bytes and features by name: the rows arrive in primary-key order, so
    SQLite appends to its B-trees instead of splitting pages at random. Batch ``i + 1`` is packed
    in a thread while SQLite (which releases the GIL) expands batch ``i``.
    """
    from feast.infra.online_stores.sqlite import _table_id, adapt_datetime_epoch

    config = store.config
    name = _table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
    if not len(table):
        return
    # the very adapter Feast registers for datetimes: epoch seconds of the naive UTC value
    ts = adapt_datetime_epoch(table.column("event_timestamp")[0].as_py().replace(tzinfo=None))
    now = adapt_datetime_epoch(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    feats = sorted(f.name for f in view.features)
    table = table.take(key_order(table.column(key).to_numpy()))

    def prepare(rows: slice) -> sqlite_rows.Packed:
        return _pack(table.slice(rows.start, rows.stop - rows.start), key, feats)

    with ThreadPoolExecutor(max_workers=1) as pool:
        batches = _batches(len(table))
        pending = pool.submit(prepare, next(batches))
        for rows in itertools.chain(batches, [None]):
            packed = pending.result()
            if rows is not None:
                pending = pool.submit(prepare, rows)
            sqlite_rows.insert(conn, name, packed, ts, now)
            bar.update(packed.n * len(feats))


def _leftovers(live: Path) -> list[Path]:
    """Databases (and their journals) a killed materialization left beside ``live``."""
    return sorted(live.parent.glob(f"{glob.escape(live.name)}.next*"))


def _live_ddl(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(type, name, sql) of the tables and indexes of the database attached as ``live`` (ours
    left out)."""
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM live.sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return [(kind, name, sql) for kind, name, table, sql in rows if table != STAMP_TABLE]


def _drop_indexes(conn: sqlite3.Connection) -> None:
    """Drop the (explicit) indexes of the database being built; the primary keys stay."""
    rows = conn.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for (name,) in rows:
        conn.execute(f'DROP INDEX main."{name}"')


def _clustered(conn: sqlite3.Connection, tables: list[str]) -> None:
    """Each (empty) table recreated as ``WITHOUT ROWID``: its rows stored in the B-tree of its
    primary key (entity_key, feature_name), instead of a rowid table plus a copy of every key
    in the primary key's index."""
    for table in tables:
        (sql,) = conn.execute(
            "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not sql.rstrip().upper().endswith("WITHOUT ROWID"):
            conn.execute(f'DROP TABLE main."{table}"')
            conn.execute(f"{sql} WITHOUT ROWID")


def _placeholder_indexes(conn: sqlite3.Connection, tables: list[str]) -> None:
    """Feast's ``<table>_ek`` index of each table, created empty (a partial index ``WHERE 0``).

    Feast's ``update`` (``feast apply``) runs ``CREATE INDEX IF NOT EXISTS <table>_ek ON <table>
    (entity_key)``, which only repeats the primary key's index on (entity_key, feature_name): that
    one already serves Feast's and our reads by entity key. Built in full, it costs a minute and
    gigabytes at H&M scale; an empty index of that name keeps Feast from building it, here and on
    the live file after the rename.
    """
    for table in tables:
        conn.execute(
            f'CREATE INDEX IF NOT EXISTS main."{table}_ek" ON "{table}" (entity_key) WHERE 0'
        )


def _feast_ddl(conn: sqlite3.Connection, store: FeatureStore, views: list[FeatureView]) -> None:
    """Feast's own DDL for ``views`` (``CREATE ... IF NOT EXISTS``, columns added if missing)
    run on the connection of the database being built."""
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    feast = SqliteOnlineStore()
    feast._conn = conn
    feast.update(store.config, [], views, [], [], partial=False)


def _publish_sqlite(
    store: FeatureStore,
    views: dict[str, FeatureView],
    tables: dict[str, pa.Table],
    stamp: Stamp,
    bar: tqdm,
) -> dict[str, float]:
    """Build the new online database beside the live one, then rename it over the live path.

    The database holds the four views (Feast's tables and rows, inserted in primary-key order
    into empty tables stored ``WITHOUT ROWID``, with an empty ``_ek`` index) and the stamp
    (:data:`STAMP_TABLE`, with the article ids): a reader sees the old file or the new one,
    never a mix, and the stamp inside always names the data.
    Leftovers of a killed run (``<live>.next*``) are removed first.
    """
    from feast.infra.online_stores.sqlite import _table_id

    live = online_db(store)
    live.parent.mkdir(parents=True, exist_ok=True)
    for old in _leftovers(live):
        old.unlink(missing_ok=True)
    new = live.with_name(f"{live.name}.next-{os.getpid()}")
    stats: dict[str, float] = {}
    conn = sqlite3.connect(
        new.absolute().as_uri(), uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        # a private file until the rename: no journal, no syncs (it is fsynced once, below)
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            "cache_size = -262144",
        ):
            conn.execute(f"PRAGMA {pragma}")
        ddl = []
        if live.exists():  # read only, for its layout and the rows of views not written here
            conn.execute("ATTACH DATABASE ? AS live", (f"{live.absolute().as_uri()}?mode=ro",))
            ddl = _live_ddl(conn)
        conn.execute("BEGIN")
        # the live database's layout (Feast's tables, replayed from its sqlite_master); the
        # indexes are built after the rows are in, which is faster than growing them row by row
        for kind, _, sql in ddl:
            if kind == "table":
                conn.execute(sql)
        config = store.config
        ours = {
            _table_id(config.project, v, config.registry.enable_online_feature_view_versioning): v
            for v in views.values()
        }
        tables_now = {name for kind, name, _ in ddl if kind == "table"}
        _feast_ddl(conn, store, [v for name, v in ours.items() if name not in tables_now])
        _drop_indexes(conn)  # Feast's, of tables new here: they are all built after the rows
        _clustered(conn, list(ours))
        for kind, names in VIEWS.items():
            start = time.perf_counter()
            for name in names:
                bar.set_description(f"materialize {name}")
                _write_sqlite(conn, store, views[name], tables[kind], KINDS[kind], bar)
            stats[f"{kind}_rows"] = len(tables[kind])
            stats[f"{kind}_seconds"] = time.perf_counter() - start
        for name in sorted(tables_now - set(ours)):  # views this run does not write: kept
            conn.execute(f'INSERT INTO main."{name}" SELECT * FROM live."{name}"')
        _placeholder_indexes(conn, list(ours))
        made = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master")}
        for kind, name, sql in ddl:
            if kind != "table" and name not in made:
                conn.execute(sql)
        _feast_ddl(conn, store, list(views.values()))  # Feast's layout, whatever the live had
        ids = np.asarray(tables["article"].column("article_id").to_numpy(), dtype="<i8")
        conn.execute(
            f"CREATE TABLE {STAMP_TABLE} (version TEXT NOT NULL, written TEXT NOT NULL,"
            " article_ids BLOB NOT NULL)"
        )
        conn.execute(
            f"INSERT INTO {STAMP_TABLE} VALUES (?, ?, ?)",
            (stamp.version, stamp.written, ids.tobytes()),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    fsync(new)
    os.replace(new, live)  # data and stamp switch together
    fsync(live.parent)
    for legacy in (
        "online_version.json",
        "online_article_ids.npy",
    ):  # the stamp files of older homes
        (live.parent / legacy).unlink(missing_ok=True)
    return stats


def _write_redis(
    store: FeatureStore, view: FeatureView, table: pa.Table, key: str, suffix: bytes, bar: tqdm
) -> None:
    """HSET one view's fields (and its ``_ts:`` field) into each entity's hash of a slot
    (Feast's key ``entity key + project`` with the slot's ``suffix`` instead of the project).

    The commands of a batch are built in bulk (:mod:`recsys.features.redis_rows`) in a thread
    while the previous batch is sent and its replies read.
    """
    from feast.infra.online_stores.helpers import _mmh3
    from google.protobuf.timestamp_pb2 import Timestamp

    client = redis_client(store)
    ts = Timestamp()
    ts.FromDatetime(table.column("event_timestamp")[0].as_py())
    extra = {f"_ts:{view.name}".encode(): ts.SerializeToString()}
    feats = [f.name for f in view.features]
    fields = [_mmh3(f"{view.name}:{f}") for f in feats]

    def prepare(rows: slice) -> tuple[int, bytes]:
        part = table.slice(rows.start, rows.stop - rows.start)
        keys = entity_key_matrix(key, part.column(key).to_numpy())
        keys = np.concatenate([keys, np.tile(np.frombuffer(suffix, np.uint8), (len(part), 1))], 1)
        keys = redis_rows.binary_array(keys, np.full(len(part), keys.shape[1]))
        values = [redis_rows.binary_array(*value_matrix(part.column(f))) for f in feats]
        return len(part), redis_rows.hset_commands(keys, fields, values, extra)

    with ThreadPoolExecutor(max_workers=1) as pool:
        batches = _batches(len(table), BATCH // 4)
        pending = pool.submit(prepare, next(batches, slice(0, 0)))
        for rows in itertools.chain(batches, [None]):
            n, commands = pending.result()
            if rows is not None:
                pending = pool.submit(prepare, rows)
            if n:
                redis_rows.send(client, commands, n)
            bar.update(n * len(feats))


def _unlink_matching(client: Any, pattern: bytes) -> int:
    """UNLINK every key matching ``pattern`` (SCAN, batches of :data:`SCAN`); how many."""
    n, batch = 0, []
    for key in client.scan_iter(match=pattern, count=SCAN):
        batch.append(key)
        if len(batch) >= SCAN:
            n += client.unlink(*batch)
            batch = []
    return n + (client.unlink(*batch) if batch else 0)


def _publish_redis(
    store: FeatureStore,
    views: dict[str, FeatureView],
    tables: dict[str, pa.Table],
    stamp: Stamp,
    bar: tqdm,
) -> dict[str, float]:
    """Write the views into the slot not served (its stale keys deleted first), then flip the
    stamp to it with one SET: readers read the slot the stamp names (blue/green)."""
    client = redis_client(store)
    project = store.config.project
    raw = client.get(STAMP_KEY)
    served = redis_stamp(raw)
    slot = SLOTS[1] if served is not None and served.slot == SLOTS[0] else SLOTS[0]
    suffix = slot_suffix(project, slot)
    _unlink_matching(client, b"*" + glob_escape(suffix))
    client.unlink(ids_key(slot))
    stats: dict[str, float] = {}
    for kind, names in VIEWS.items():
        start = time.perf_counter()
        for name in names:
            bar.set_description(f"materialize {name}")
            _write_redis(store, views[name], tables[kind], KINDS[kind], suffix, bar)
        stats[f"{kind}_rows"] = len(tables[kind])
        stats[f"{kind}_seconds"] = time.perf_counter() - start
    ids = np.asarray(tables["article"].column("article_id").to_numpy(), dtype="<i8")
    client.set(ids_key(slot), ids.tobytes())
    client.set(STAMP_KEY, encode_redis_stamp(replace(stamp, slot=slot)))  # the switch
    if raw is not None and served is None:  # an older materializer's data: Feast's own keys
        _unlink_matching(client, b"*" + glob_escape(project.encode()))
        client.unlink(IDS_KEY)
    return stats


def glob_escape(raw: bytes) -> bytes:
    """``raw`` as a literal in a Redis glob pattern."""
    return bytes(itertools.chain.from_iterable((92, c) if c in b"*?[]\\" else (c,) for c in raw))


def materialize(
    settings: Settings,
    cutoff: dt.date,
    online: Online | None = None,
    redis: str | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Load the customer and article snapshots of ``cutoff`` into the online store, atomically.

    Both files are validated before anything is written (:class:`SnapshotError` otherwise).
    Both views switch to the new cutoff together, with the stamp naming the snapshots
    (``snapshots.snapshot_version``): SQLite builds a new database and renames it over the live
    one; Redis writes the slot not served and flips the stamp to it. A run killed mid-way
    leaves the previous materialization served, whole. Returns rows and seconds per entity kind.
    """
    store = open_store(settings, online, redis)
    publish = _publish_redis if online_kind(store) == "redis" else _publish_sqlite
    tables = {k: read_snapshot(settings, k, cutoff) for k in KINDS}
    views = {v: store.get_feature_view(v) for kind in VIEWS for v in VIEWS[kind]}
    version = snapshots.snapshot_version(settings.paths.features, cutoff)
    stamp = Stamp(version, dt.datetime.now(dt.UTC).isoformat())
    total = sum(len(tables[k]) * len(views[v].features) for k in VIEWS for v in VIEWS[k])
    with tqdm(total=total, unit="val", unit_scale=True, disable=not progress) as bar:
        stats = publish(store, views, tables, stamp, bar)
    _record_interval(store, list(views.values()), cutoff)
    return stats


def _record_interval(store: FeatureStore, views: list[FeatureView], cutoff: dt.date) -> None:
    """Note the materialized interval in the registry, as ``feast materialize`` does."""
    start = cutoff_datetime(cutoff)
    for view in views:
        store.registry.apply_materialization(
            view, store.project, start, start + dt.timedelta(days=1), commit=False
        )
    store.registry.commit()
