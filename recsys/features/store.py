"""The Feast feature store of a project home: open it, apply the repo, read what is online.

The repo's definitions live in ``feature_repo/`` (plain Feast definition files, usable with the
``feast`` CLI); here the same objects are built for the settings' home, and the RepoConfig is
built in code, so nothing depends on the working directory. The online store's stamp names the
materialization it holds (:mod:`recsys.features.materialize` writes both).
"""

from __future__ import annotations

import importlib
import json
import sys
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
STAMP_KEY = f"{PROJECT}:online_version"
IDS_KEY = f"{PROJECT}:online_article_ids"


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
    settings: Settings, online: Online | None = None, redis: str | None = None
) -> FeatureStore:
    """A FeatureStore over the settings' home (``online``: which online store to use)."""
    return FeatureStore(config=repo_config(settings, online, redis))


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


def write_stamp(
    store: FeatureStore, settings: Settings, stamp: str, article_ids: np.ndarray
) -> None:
    """Publish a new online version and the article ids it holds (read by online caches)."""
    ids = np.asarray(article_ids, dtype="<i8")
    if online_kind(store) == "redis":
        with redis_client(store).pipeline(transaction=True) as pipe:
            pipe.set(IDS_KEY, ids.tobytes())
            pipe.set(STAMP_KEY, stamp)
            pipe.execute()
        return
    folder = settings.paths.feast
    np.save(folder / "online_article_ids.tmp.npy", ids)
    (folder / "online_article_ids.tmp.npy").replace(folder / "online_article_ids.npy")
    (folder / "online_version.tmp").write_text(json.dumps({"version": stamp}))
    (folder / "online_version.tmp").replace(folder / "online_version.json")


def read_stamp(store: FeatureStore, settings: Settings) -> str | None:
    """The online version written by the last :func:`materialize` (None if never)."""
    if online_kind(store) == "redis":
        value = redis_client(store).get(STAMP_KEY)
        return value.decode() if value is not None else None
    path = settings.paths.feast / "online_version.json"
    return json.loads(path.read_text())["version"] if path.exists() else None


def read_stamp_ids(store: FeatureStore, settings: Settings) -> np.ndarray:
    """Article ids of the last materialization (empty if never)."""
    if online_kind(store) == "redis":
        raw = redis_client(store).get(IDS_KEY)
        return np.frombuffer(raw or b"", dtype="<i8").astype(np.int64)
    path = settings.paths.feast / "online_article_ids.npy"
    return np.load(path) if path.exists() else np.zeros(0, dtype=np.int64)
