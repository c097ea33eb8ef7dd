"""The Feast feature store of a project home: open it, apply the repo, read what is online.

The repo's definitions live in ``feature_repo/`` (plain Feast definition files, usable with the
``feast`` CLI); here the same objects are built for the settings' home, and the RepoConfig is
built in code, so nothing depends on the working directory. The online store's stamp names the
materialization it serves (:mod:`recsys.features.materialize` writes both, atomically):

* SQLite: a table of ours (:data:`STAMP_TABLE`: version, time, article ids) inside the online
  database, which materialization builds beside the live file and renames over it: data and
  stamp switch in one rename. Read with a fresh connection to the live path.
* Redis: :data:`STAMP_KEY` holds JSON naming the version and the slot (``a``/``b``) whose keys
  (Feast's key + ``":<slot>"``) and ids key hold the data; one SET switches both views.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from feast import FeatureStore, RepoConfig

from recsys.features import spec
from recsys.settings import Settings

Online = Literal["sqlite", "redis"]
PROJECT = "hm_recsys"
REPO_DIR = Path(__file__).resolve().parents[2] / "feature_repo"
KINDS = {"customer": "customer_id", "article": "article_id"}
ID_TYPES = {"customer": pa.int64(), "article": pa.int32()}
VIEWS = {
    "customer": (spec.CUSTOMER_ACTIVITY, spec.CUSTOMER_PROFILE),
    "article": (spec.ARTICLE_SALES, spec.ARTICLE_PROFILE),
}
# SQLite: the stamp lives inside the online database (this table), so a rename switches both.
STAMP_TABLE = "hm_online_stamp"
# Redis: the stamp names the slot whose keys hold the served data; the ids key has a slot suffix.
STAMP_KEY = f"{PROJECT}:online_version"
IDS_KEY = f"{PROJECT}:online_article_ids"
SLOTS = ("a", "b")


def repo_config(
    settings: Settings, online: Online | None = None, redis: str | None = None
) -> RepoConfig:
    """Feast config of the home: file registry, file offline store, SQLite or Redis online store."""
    feast_dir = settings.paths.feast
    feast_dir.mkdir(parents=True, exist_ok=True)
    if (online or settings.online_store) == "redis":
        online_store: dict[str, Any] = {
            "type": "redis",
            "connection_string": redis or settings.redis,
        }
    else:
        online_store = {"type": "sqlite", "path": str(feast_dir / "online_store.db")}
    return RepoConfig(
        project=PROJECT,
        provider="local",
        registry={"registry_type": "file", "path": str(feast_dir / "registry.db")},
        online_store=online_store,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=REPO_DIR,
    )


def open_store(
    settings: Settings, online: Online | None = None, redis: str | None = None, bare: bool = False
) -> FeatureStore:
    """A FeatureStore over the settings' home (``online``: which online store to use).

    Its SDK reads (``get_online_features``) follow what is served, call by call: on Redis the
    slot the stamp names (:func:`_serve_slot_to_sdk`), on SQLite the file at the live path
    (:func:`_serve_file_to_sdk`). :class:`recsys.features.online.OnlineFeatures` opens its own
    (``bare``) store and binds to one materialization at a time instead.
    """
    store = FeatureStore(config=repo_config(settings, online, redis))
    if bare:
        return store
    if store.config.online_store.type == "redis":
        _serve_slot_to_sdk(store)
    elif store.config.online_store.type == "sqlite":
        _serve_file_to_sdk(store)
    return store


def _repo_module(name: str) -> Any:
    """Import one definition file of ``feature_repo/`` as ``feast apply`` does (top-level name).

    The folder is on ``sys.path`` only while importing, so it shadows nothing afterwards.
    """
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(REPO_DIR))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO_DIR))


def definitions(settings: Settings) -> list[Any]:
    """Entities, sources, views and services of ``feature_repo/``, bound to the home's snapshots."""
    entities, sources = _repo_module("entities"), _repo_module("data_sources")
    features, services = _repo_module("features"), _repo_module("feature_services")
    root = settings.paths.features
    customer_src = sources.snapshot_source("customer", root)
    article_src = sources.snapshot_source("article", root)
    views = features.build_views(customer_src, article_src)
    return [
        entities.customer,
        entities.article,
        customer_src,
        article_src,
        *views,
        *services.build_services(views),
    ]


def apply(
    settings: Settings, online: Online | None = None, redis: str | None = None
) -> FeatureStore:
    """Register the repo's objects in the home's registry and create the online tables."""
    store = open_store(settings, online, redis)
    store.apply(definitions(settings))
    return store


def online_kind(store: FeatureStore) -> str:
    """``sqlite`` or ``redis``: the type of the store's online store."""
    kind = store.config.online_store.type
    if kind not in ("sqlite", "redis"):
        raise ValueError(f"fast materialization supports sqlite and redis, not {kind}")
    return kind


def redis_client(store: FeatureStore) -> Any:
    """The Redis client of a Redis-backed store."""
    return store._get_provider().online_store._get_client(store.config.online_store)


@dataclass(frozen=True)
class Stamp:
    """What the online store serves: the snapshots' version, when it was materialized, where."""

    version: str  # snapshots.snapshot_version of the materialized cutoff
    written: str  # ISO time of the materialization (tells two runs of one version apart)
    slot: str | None = None  # Redis: the key slot holding the data (SQLite: None)


def online_db(store: FeatureStore) -> Path:
    """The live SQLite online database of a SQLite-backed store."""
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    return Path(SqliteOnlineStore._get_db_path(store.config))


def sqlite_stamp(conn: sqlite3.Connection) -> tuple[Stamp, np.ndarray] | None:
    """(stamp, article ids) stored inside the database of ``conn`` (None if never stamped)."""
    try:
        row = conn.execute(f"SELECT version, written, article_ids FROM {STAMP_TABLE}").fetchone()
    except sqlite3.OperationalError:  # no such table: not written by this materializer
        return None
    if row is None:
        return None
    return Stamp(row[0], row[1]), np.frombuffer(row[2], dtype="<i8").astype(np.int64)


def sqlite_stamp_at(path: Path) -> tuple[Stamp, np.ndarray] | None:
    """The stamp of the database now at ``path``, through a fresh read-only connection."""
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.OperationalError:  # no database at path
        return None
    try:
        return sqlite_stamp(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def slot_suffix(project: str, slot: str) -> bytes:
    """Appended to Feast's Redis key (entity key + project) for the entity's hash in ``slot``."""
    return f"{project}:{slot}".encode()


def ids_key(slot: str) -> str:
    """The Redis key of the article ids materialized into ``slot``."""
    return f"{IDS_KEY}:{slot}"


def redis_stamp(raw: bytes | None) -> Stamp | None:
    """The stamp a Redis value holds (None if missing or written by an older materializer)."""
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("slot") not in SLOTS:
        return None
    return Stamp(data["version"], data["written"], data["slot"])


def encode_redis_stamp(stamp: Stamp) -> str:
    """The Redis value of ``stamp`` (:func:`redis_stamp` reads it)."""
    return json.dumps({"version": stamp.version, "written": stamp.written, "slot": stamp.slot})


def read_online_stamp(store: FeatureStore, settings: Settings | None = None) -> Stamp | None:
    """What the online store serves now (None if nothing was materialized)."""
    if online_kind(store) == "redis":
        return redis_stamp(redis_client(store).get(STAMP_KEY))
    found = sqlite_stamp_at(online_db(store))
    return found[0] if found else None


def read_stamp(store: FeatureStore, settings: Settings | None = None) -> str | None:
    """The version the online store serves, written by the last :func:`materialize` (None if
    never)."""
    stamp = read_online_stamp(store, settings)
    return stamp.version if stamp else None


def redis_served(client: Any) -> tuple[Stamp, np.ndarray] | None:
    """(stamp, article ids) served by Redis, read consistently (the stamp re-read after)."""
    while True:
        raw = client.get(STAMP_KEY)
        stamp = redis_stamp(raw)
        if stamp is None:
            return None
        ids = client.get(ids_key(stamp.slot))
        if client.get(STAMP_KEY) == raw:
            return stamp, np.frombuffer(ids or b"", dtype="<i8").astype(np.int64)


def read_stamp_ids(store: FeatureStore, settings: Settings | None = None) -> np.ndarray:
    """Article ids of the served materialization (empty if never)."""
    if online_kind(store) == "redis":
        found = redis_served(redis_client(store))
    else:
        found = sqlite_stamp_at(online_db(store))
    return found[1] if found else np.zeros(0, dtype=np.int64)


def _serve_file_to_sdk(store: FeatureStore) -> None:
    """Make the store's Feast SQLite reads follow the database at the live path.

    Feast caches one connection per online store (``SqliteOnlineStore._conn``); materialization
    renames a new database over the live path, and that connection would keep reading the file
    it opened. Here it is dropped (not closed: a concurrent read may use it) when the live path
    names another file than the one it opened (one ``stat`` per call).
    """
    online = store._get_provider().online_store
    plain, path = online._get_conn, online_db(store)
    opened: dict[str, int | None] = {"inode": None}

    def get_conn(config: RepoConfig) -> sqlite3.Connection:
        try:
            inode: int | None = os.stat(path).st_ino
        except FileNotFoundError:
            inode = None
        if online._conn is None or inode != opened["inode"]:
            online._conn, opened["inode"] = None, inode
        return plain(config)

    online._get_conn = get_conn


def _serve_slot_to_sdk(store: FeatureStore) -> None:
    """Make the store's Feast Redis reads (``get_online_features``) read the served slot.

    Feast reads the hash at ``entity key + project``; materialization writes ``+ ":<slot>"``
    (blue/green, :mod:`recsys.features.materialize`), so the key builder of this store's online
    store instance appends the slot the stamp names (one GET per call). Only stores opened here
    see it: a plain ``feast`` CLI store reads Feast's own keys, which hm no longer writes.
    """
    online = store._get_provider().online_store
    plain = online._generate_redis_keys_for_entities

    def keys(config: RepoConfig, entity_keys: list) -> list[bytes]:
        stamp = redis_stamp(redis_client(store).get(STAMP_KEY))
        tail = f":{stamp.slot}".encode() if stamp else b""
        return [k + tail for k in plain(config, entity_keys)]

    online._generate_redis_keys_for_entities = keys
