"""Materialization: one weekly snapshot into the online store (SQLite tables or Redis hashes).

Writes go through Feast's own online-store tables / hashes, with a vectorised serialisation of
the very ValueProto bytes Feast writes (``_convert_arrow_to_proto`` + ``online_write_batch``
spend ~1 µs per value in Python; the H&M scale has ~130M values per cutoff). Snapshots are
validated completely before anything is written; the stamp is written last.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
from feast import FeatureStore, FeatureView
from tqdm.auto import tqdm

from recsys.features import snapshots
from recsys.features.snapshots import SnapshotError
from recsys.features.store import (
    KINDS,
    VIEWS,
    Online,
    online_kind,
    open_store,
    redis_client,
    write_stamp,
)
from recsys.settings import Settings

BATCH = 20_000

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


def encode_values(column: pa.Array | pa.ChunkedArray) -> list[bytes]:
    """Serialised ``ValueProto`` of each value, byte for byte as Feast's materialization does.

    Nulls and float NaN become the empty Value (``b""``), which Feast reads back as None.
    """
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        from feast.protos.feast.types.Value_pb2 import Value

        return [
            Value(string_val=s).SerializeToString() if s is not None else b""
            for s in column.to_pylist()
        ]
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
    return _binary_list(matrix, np.where(valid, lengths, 0))


def entity_keys(join_key: str, ids: np.ndarray) -> list[bytes]:
    """Feast's v3 ``serialize_entity_key`` of single INT64 join-key values, vectorised."""
    name = join_key.encode()
    prefix = struct.pack("<III", 1, 2, len(name)) + name + struct.pack("<II", 4, 8)
    head = np.frombuffer(prefix, dtype=np.uint8)
    matrix = np.empty((len(ids), len(prefix) + 8), dtype=np.uint8)
    matrix[:, : len(prefix)] = head
    matrix[:, len(prefix) :] = ids.astype("<i8").view(np.uint8).reshape(-1, 8)
    return _binary_list(matrix, np.full(len(ids), matrix.shape[1], dtype=np.int64))


# --- writing to the online store ---------------------------------------------------------------


def _batches(n: int, size: int = BATCH) -> Iterator[slice]:
    """Consecutive row slices of at most ``size`` rows."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _sqlite_rows(
    keys: list[bytes], columns: dict[str, list[bytes]], texts: dict[str, list], ts: int, now: int
) -> Iterator[tuple]:
    """(entity_key, feature_name, value, value_text, event_ts, created_ts) rows, entity-major.

    With keys sorted by their bytes and names sorted, rows arrive in primary-key order, so SQLite
    appends to (or walks) its B-trees sequentially instead of splitting pages at random.
    """
    names = sorted(columns)
    n, f = len(keys), len(names)
    values, text = np.empty((n, f), dtype=object), np.empty((n, f), dtype=object)
    for j, name in enumerate(names):
        values[:, j], text[:, j] = columns[name], texts[name]
    return zip(
        np.repeat(np.array(keys, dtype=object), f).tolist(),
        itertools.chain.from_iterable(itertools.repeat(names, n)),
        values.ravel().tolist(),
        text.ravel().tolist(),
        itertools.repeat(ts),
        itertools.repeat(now),
        strict=False,
    )


def key_order(ids: np.ndarray) -> np.ndarray:
    """Order of ``ids`` by their serialised entity key bytes (little-endian int64 suffix)."""
    return np.argsort(np.asarray(ids, dtype="<i8").view(">u8"), kind="stable")


def _value_texts(column: pa.ChunkedArray, encoded: list[bytes]) -> list:
    """``value_text`` as Feast's SQLite store fills it: ``str`` of the value, None when empty."""
    if pa.types.is_string(column.type):
        return column.to_pylist()
    values = column.cast(pa.float64()) if pa.types.is_floating(column.type) else column
    return [str(v) if b else None for v, b in zip(values.to_pylist(), encoded, strict=True)]


def _upsert_sql(table: str) -> str:
    """Feast's SQLite upsert (``online_write_batch``), for the columns a scalar view uses."""
    return (
        f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, event_ts, created_ts)'
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET"
        " value = excluded.value, value_text = excluded.value_text,"
        " event_ts = excluded.event_ts, created_ts = excluded.created_ts"
    )


def _write_sqlite(
    store: FeatureStore, view: FeatureView, table: pa.Table, key: str, bar: tqdm
) -> None:
    """Upsert one view's rows into Feast's SQLite table for it, in one transaction."""
    from feast.infra.online_stores.sqlite import (
        SqliteOnlineStore,
        _table_id,
        adapt_datetime_epoch,
    )

    config = store.config
    path = SqliteOnlineStore._get_db_path(config)
    name = _table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
    sql = _upsert_sql(name)
    # the very adapter Feast registers for datetimes: epoch seconds of the naive UTC value
    ts = adapt_datetime_epoch(table.column("event_timestamp")[0].as_py().replace(tzinfo=None))
    now = adapt_datetime_epoch(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    feats = [f.name for f in view.features]
    if not len(table):
        return
    table = table.take(key_order(table.column(key).to_numpy()))
    conn = sqlite3.connect(path, timeout=60)
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache for this bulk load
    conn.execute("PRAGMA synchronous = OFF")

    def prepare(rows: slice) -> tuple[int, Iterator[tuple]]:
        part = table.slice(rows.start, rows.stop - rows.start)
        keys = entity_keys(key, part.column(key).to_numpy())
        cols = {f: encode_values(part.column(f)) for f in feats}
        texts = {f: _value_texts(part.column(f), cols[f]) for f in feats}
        return len(part) * len(feats), _sqlite_rows(keys, cols, texts, ts, now)

    # encode batch i + 1 in a thread while SQLite (which releases the GIL) writes batch i
    try:
        with ThreadPoolExecutor(max_workers=1) as pool, conn:
            pending = [
                pool.submit(prepare, rows) for rows in itertools.islice(_batches(len(table)), 1)
            ]
            for rows in itertools.chain(itertools.islice(_batches(len(table)), 1, None), [None]):
                done = pending.pop().result()
                if rows is not None:
                    pending.append(pool.submit(prepare, rows))
                conn.executemany(sql, done[1])
                bar.update(done[0])
    finally:
        conn.close()


def _write_redis(
    store: FeatureStore, view: FeatureView, table: pa.Table, key: str, bar: tqdm
) -> None:
    """HSET one view's fields (and its ``_ts:`` field) into each entity's Redis hash."""
    from feast.infra.online_stores.helpers import _mmh3
    from google.protobuf.timestamp_pb2 import Timestamp

    client = redis_client(store)
    suffix = store.config.project.encode()
    ts = Timestamp()
    ts.FromDatetime(table.column("event_timestamp")[0].as_py())
    ts_field, ts_bytes = f"_ts:{view.name}", ts.SerializeToString()
    feats = [f.name for f in view.features]
    fields = [_mmh3(f"{view.name}:{f}") for f in feats]
    for rows in _batches(len(table), BATCH // 4):
        part = table.slice(rows.start, rows.stop - rows.start)
        keys = entity_keys(key, part.column(key).to_numpy())
        cols = [encode_values(part.column(f)) for f in feats]
        with client.pipeline(transaction=False) as pipe:
            for i, k in enumerate(keys):
                mapping = dict(zip(fields, (c[i] for c in cols), strict=True))
                mapping[ts_field] = ts_bytes
                pipe.hset(k + suffix, mapping=mapping)
            pipe.execute()
        bar.update(len(part) * len(feats))


def materialize(
    settings: Settings,
    cutoff: dt.date,
    online: Online | None = None,
    redis: str | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Load the customer and article snapshots of ``cutoff`` into the online store.

    Both files are validated before anything is written (:class:`SnapshotError` otherwise);
    the stamp, written last, names the snapshots (``snapshots.snapshot_version``).
    Returns rows and seconds per entity kind.
    """
    store = open_store(settings, online, redis)
    writer = _write_redis if online_kind(store) == "redis" else _write_sqlite
    tables = {k: read_snapshot(settings, k, cutoff) for k in KINDS}
    views = {v: store.get_feature_view(v) for kind in VIEWS for v in VIEWS[kind]}
    stats: dict[str, float] = {}
    total = sum(len(tables[k]) * len(views[v].features) for k in VIEWS for v in VIEWS[k])
    with tqdm(total=total, unit="val", unit_scale=True, disable=not progress) as bar:
        for kind, names in VIEWS.items():
            start = time.perf_counter()
            for name in names:
                bar.set_description(f"materialize {name}")
                writer(store, views[name], tables[kind], KINDS[kind], bar)
            stats[f"{kind}_rows"] = len(tables[kind])
            stats[f"{kind}_seconds"] = time.perf_counter() - start
    _record_interval(store, list(views.values()), cutoff)
    ids = tables["article"].column("article_id").to_numpy()
    write_stamp(store, settings, snapshots.snapshot_version(settings.paths.features, cutoff), ids)
    return stats


def _record_interval(store: FeatureStore, views: list[FeatureView], cutoff: dt.date) -> None:
    """Note the materialized interval in the registry, as ``feast materialize`` does."""
    start = cutoff_datetime(cutoff)
    for view in views:
        store.registry.apply_materialization(
            view, store.project, start, start + dt.timedelta(days=1), commit=False
        )
    store.registry.commit()
