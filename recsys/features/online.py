"""Fast online reads for ranking: 1 customer + N candidate articles in a fixed feature order.

Articles are few (~105k) and change once a week, so all their features are bulk-read from the
online store into an in-process matrix, keyed by article id; the cache reloads when a
materialization (:func:`recsys.features.materialize.materialize`) has switched the online store
to a new stamp (checked at most every ``refresh_s`` seconds). The customer is read per request.
Every block is read from one whole materialization: SQLite by one SELECT per view of Feast's
table on the Feast online store's connection bound to one database file, Redis by our own HMGET
reader of the slot the stamp names (a MULTI that re-reads the stamp). Both hand the stored
``ValueProto`` bytes to one decoding loop (no per-value Python objects beyond the parse).
Values equal those of ``FeatureStore.get_online_features``: numbers as float64 (exact for int32
and float32), nulls as NaN; string features are kept apart, as objects.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from feast import FeatureStore, FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from recsys.features import spec
from recsys.features.store import (
    STAMP_KEY,
    Online,
    Stamp,
    online_db,
    online_kind,
    open_store,
    redis_client,
    redis_served,
    redis_stamp,
    slot_suffix,
    sqlite_stamp,
    sqlite_stamp_at,
)
from recsys.settings import Settings

CHUNK = 10_000


@dataclass(frozen=True)
class Block:
    """Features of some entities: numeric matrix + string columns, in spec order."""

    names: list[str]  # numeric feature names, the matrix columns
    values: np.ndarray  # (rows, len(names)) float64, NaN = null
    string_names: list[str]
    strings: np.ndarray  # (rows, len(string_names)) object, None = null
    found: np.ndarray  # (rows,) bool: the entity exists in the online store


@dataclass(frozen=True)
class RankerFeatures:
    """What a ranker needs for one request."""

    customer: Block  # one row
    articles: Block  # one row per requested article, in request order


def _names(specs: list[spec.FeatureSpec]) -> tuple[list[str], list[str]]:
    """(numeric, string) feature names in spec order."""
    numeric = [s.name for s in specs if s.dtype != spec.STR]
    return numeric, [s.name for s in specs if s.dtype == spec.STR]


def _python(value: Value) -> Any:
    """The Python value of a scalar ValueProto (None when empty)."""
    kind = value.WhichOneof("val")
    return None if kind is None else getattr(value, kind)


Cells = list  # (entity position, feature name, ValueProto bytes) of the entities found


class _Moved(Exception):
    """The online store switched to another materialization while a block was being read."""


@dataclass(frozen=True)
class Binding:
    """One materialization a source reads: its stamp, its article ids, and how to read it
    (SQLite: a Feast online store of its own, connected to that database file; Redis: the key
    suffix of its slot). Replaced whole, so a reader holding one reads one materialization."""

    stamp: Stamp | None
    ids: np.ndarray
    reader: Any


NOTHING = Binding(None, np.zeros(0, np.int64), None)


class _SqliteSource:
    """Reads Feast's SQLite online tables through a Feast ``SqliteOnlineStore``'s connection, one
    database file at a time (the rows ``online_read`` reads, without its per-row timestamps).

    Materialization renames a new database over the live path. Feast's store caches its
    connection (``_conn``), which keeps reading the file it opened: so each binding has a Feast
    online store of its own, connected when bound, and reads one whole materialization however
    long it is used. :meth:`follow` checks the stamp at the live path (a fresh connection) and,
    when it changed, binds a new Feast store (the stamp read through its connection); the old
    one, and its connection to the old file, go with their last reader.
    """

    def __init__(self, store: FeatureStore) -> None:
        self.store, self.path = store, online_db(store)
        self.bound = NOTHING

    def follow(self) -> Binding:
        """Bind to the database now at the live path if its stamp differs; the binding."""
        from feast.infra.online_stores.sqlite import SqliteOnlineStore

        live = sqlite_stamp_at(self.path)
        if self.bound.stamp is None or live is None or live[0] != self.bound.stamp:
            if not self.path.exists():  # nothing to read (and no empty file to create)
                self.bound = NOTHING
                return self.bound
            online = SqliteOnlineStore()
            found = sqlite_stamp(online._get_conn(self.store.config))
            # a database without our stamp (Feast's own materialize): read as it is, no ids
            self.bound = Binding(*(found or (None, NOTHING.ids)), online)
        return self.bound

    def read(self, bound: Binding, views: list[FeatureView], keys: list[EntityKey]) -> list[Cells]:
        """Per view, the cells of ``keys`` in ``bound``'s database."""
        if bound.reader is None:
            return [[] for _ in views]
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        config = self.store.config
        conn = bound.reader._get_conn(config)
        versioned = config.registry.enable_online_feature_view_versioning
        at: dict[bytes, list[int]] = {}  # an entity key's positions (a key may be asked twice)
        version = config.entity_key_serialization_version
        for r, key in enumerate(keys):
            at.setdefault(serialize_entity_key(key, version), []).append(r)
        marks = ",".join("?" * len(at))
        out = []
        for view in views:
            table = _quote_id(_table_id(config.project, view, versioned))
            query = f"SELECT entity_key, feature_name, value FROM {table} "
            rows = conn.execute(f"{query}WHERE entity_key IN ({marks})", list(at))
            out.append([(r, name, raw) for key, name, raw in rows for r in at[key]])
        return out


class _RedisSource:
    """Our HMGET reader of the slot the stamp names (blue/green keys, see materialize).

    Each read is one MULTI/EXEC that also GETs the stamp: the data and the stamp are read at one
    instant, and as materialization only writes the slot not served, data read from the slot
    the stamp names then is one whole materialization. A stamp that moved raises
    :class:`_Moved` (the caller follows and reads again). Values are decoded as Feast's
    ``online_read`` decodes them (``ValueProto``); an entity is found if its hash has any field.
    """

    def __init__(self, store: FeatureStore) -> None:
        self.store, self.client = store, redis_client(store)
        self.bound = NOTHING

    def follow(self) -> Binding:
        """Bind to the slot the stamp names now; the binding."""
        found = redis_served(self.client)
        if found is None:
            self.bound = NOTHING
        else:
            suffix = slot_suffix(self.store.config.project, found[0].slot)
            self.bound = Binding(*found, suffix)
        return self.bound

    def read(self, bound: Binding, views: list[FeatureView], keys: list[EntityKey]) -> list[Cells]:
        """Per view, the cells of ``keys`` in ``bound``'s slot (:class:`_Moved` if it moved)."""
        if bound.reader is None:
            return [[] for _ in views]
        keys_bin = [serialize_entity_key(k, 3) + bound.reader for k in keys]
        fields = [_fields(v.name, tuple(f.name for f in v.features)) for v in views]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.get(STAMP_KEY)
            for hashed, _ in fields:
                for key in keys_bin:
                    pipe.hmget(key, hashed)
            replies = pipe.execute()
        if redis_stamp(replies[0]) != bound.stamp:
            raise _Moved
        out, at = [], 1
        for _, names in fields:
            cells: Cells = []
            for r, values in enumerate(replies[at : at + len(keys_bin)]):
                if any(v is not None for v in values):  # last: the _ts field
                    cells += [(r, n, raw or b"") for n, raw in zip(names, values[:-1], strict=True)]
            out.append(cells)
            at += len(keys_bin)
        return out


@functools.cache
def _fields(view: str, features: tuple[str, ...]) -> tuple[list, list[str]]:
    """(hash fields to HMGET, feature names) of a view: Feast's ``mmh3(view:feature)`` fields and
    the view's ``_ts:`` field last."""
    from feast.infra.online_stores.helpers import _mmh3

    return [_mmh3(f"{view}:{f}") for f in features] + [f"_ts:{view}"], list(features)


def source(store: FeatureStore) -> _SqliteSource | _RedisSource:
    """The reader of ``store``'s online store."""
    return _RedisSource(store) if online_kind(store) == "redis" else _SqliteSource(store)


def read_block(
    src: _SqliteSource | _RedisSource,
    bound: Binding,
    views: list[FeatureView],
    join_key: str,
    ids: list[int],
) -> Block:
    """Read ``ids`` of the given views from ``bound``'s materialization, chunked."""
    numeric, strings, col = _layout(join_key, tuple(v.name for v in views))
    values = np.full((len(ids), len(numeric)), np.nan)
    texts = np.full((len(ids), len(strings)), None, dtype=object)
    found = np.zeros(len(ids), dtype=bool)
    for start in range(0, len(ids), CHUNK):
        keys = [
            EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=int(i))])
            for i in ids[start : start + CHUNK]
        ]
        value = Value()
        for cells in src.read(bound, views, keys):
            for r, name, raw in cells:
                found[start + r] = True
                value.ParseFromString(raw)  # clears the previous value first
                v = _python(value)
                kind, c = col[name]
                if kind == "s":
                    texts[start + r, c] = v
                elif v is not None:
                    values[start + r, c] = v
    return Block(list(numeric), values, list(strings), texts, found)


@functools.cache
def _layout(join_key: str, views: tuple[str, ...]) -> tuple[list, list, dict[str, tuple]]:
    """(numeric names, string names, name -> (kind, column)) of some views, in spec order."""
    specs = spec.customer_features() if join_key == "customer_id" else spec.article_features()
    numeric, strings = _names([s for s in specs if s.view in views])
    kinds = [("n", i) for i in range(len(numeric))] + [("s", i) for i in range(len(strings))]
    return numeric, strings, dict(zip(numeric + strings, kinds, strict=True))


class OnlineFeatures:
    """Customer + candidate-article features for ranking, from the online store, fast."""

    def __init__(
        self,
        settings: Settings,
        online: Online | None = None,
        redis: str | None = None,
        refresh_s: float = 5.0,
    ) -> None:
        """Open the store; the article cache is loaded lazily on the first request."""
        self.settings, self.refresh_s = settings, refresh_s
        self.store = open_store(settings, online, redis, bare=True)
        self.customer_views = [
            self.store.get_feature_view(v) for v in (spec.CUSTOMER_ACTIVITY, spec.CUSTOMER_PROFILE)
        ]
        self.article_views = [
            self.store.get_feature_view(v) for v in (spec.ARTICLE_SALES, spec.ARTICLE_PROFILE)
        ]
        self.src = source(self.store)
        self.version: str | None = None  # the stamp's version of the article cache
        self._stamp: Stamp | None = None
        self._checked = -np.inf
        self._articles: Block | None = None
        self._index: dict[int, int] = {}
        self._ids = np.zeros(0, np.int64)

    def _follow(self, force: bool = False) -> Binding:
        """The served materialization (followed at most every ``refresh_s`` seconds)."""
        now = time.monotonic()
        if force or self.src.bound.stamp is None or now - self._checked >= self.refresh_s:
            self._checked = now
            return self.src.follow()
        return self.src.bound

    def _read(self, views: list[FeatureView], join_key: str, ids: list[int] | None) -> tuple:
        """(block, binding): ``ids`` (None: the binding's article ids) read from one whole
        materialization (read again from the new one if the store switched meanwhile)."""
        bound = self._follow()
        while True:
            try:
                wanted = bound.ids.tolist() if ids is None else ids
                return read_block(self.src, bound, views, join_key, wanted), bound
            except _Moved:
                bound = self._follow(force=True)

    def refresh(self, force: bool = False) -> bool:
        """Reload the article cache if a new materialization happened; True if reloaded."""
        cached = self._articles is not None
        bound = self._follow(force=force or not cached)
        if not force and cached and bound.stamp == self._stamp:
            return False
        block, bound = self._read(self.article_views, "article_id", None)
        self._index = {int(a): i for i, a in enumerate(bound.ids)}
        self._articles, self._ids, self._stamp = block, bound.ids, bound.stamp
        self.version = bound.stamp.version if bound.stamp else None
        return True

    def table(self) -> tuple[np.ndarray, Block, str | None]:
        """Every cached article: (ids in row order, their features, the materialization stamp)."""
        self.refresh()
        assert self._articles is not None
        return self._ids, self._articles, self.version

    def customer(self, customer_id: int) -> Block:
        """One customer's features (one row), read from the online store."""
        return self.customers([int(customer_id)])

    def customers(self, customer_ids: list[int] | np.ndarray) -> Block:
        """Many customers' features (a row each, in order), read from the online store in bulk
        (from the materialization served, checked at most every ``refresh_s`` seconds)."""
        ids = [int(c) for c in customer_ids]
        return self._read(self.customer_views, "customer_id", ids)[0]

    def articles(self, article_ids: list[int] | np.ndarray) -> Block:
        """Cached article features, one row per requested id (unknown ids: NaN, found False)."""
        self.refresh()
        cache = self._articles
        assert cache is not None
        rows = np.fromiter((self._index.get(int(a), -1) for a in article_ids), dtype=np.int64)
        hit = rows >= 0
        take = np.where(hit, rows, 0)
        values = cache.values[take]
        values[~hit] = np.nan
        strings = cache.strings[take]
        strings[~hit] = None
        return Block(cache.names, values, cache.string_names, strings, hit & cache.found[take])

    def get(self, customer_id: int, article_ids: list[int] | np.ndarray) -> RankerFeatures:
        """Features of one customer and its candidate articles."""
        return RankerFeatures(self.customer(customer_id), self.articles(article_ids))
