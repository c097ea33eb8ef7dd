"""Fast online reads for ranking: 1 customer + N candidate articles in a fixed feature order.

Articles are few (~105k) and change once a week, so all their features are bulk-read from the
online store (through the Feast online store's ``online_read``) into an in-process matrix, keyed
by article id; the cache reloads when a materialization
(:func:`recsys.features.materialize.materialize`) has written a new version stamp (checked at
most every ``refresh_s`` seconds). The customer is read per request from the online store.
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
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from recsys.features import spec
from recsys.features.store import Online, open_store, read_stamp, read_stamp_ids
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


def read_block(
    store: FeatureStore, views: list[FeatureView], join_key: str, ids: list[int]
) -> Block:
    """Read ``ids`` of the given views through the online store, chunked."""
    numeric, strings, col = _layout(join_key, tuple(v.name for v in views))
    values = np.full((len(ids), len(numeric)), np.nan)
    texts = np.full((len(ids), len(strings)), None, dtype=object)
    found = np.zeros(len(ids), dtype=bool)
    online, config = store._get_provider().online_store, store.config
    for start in range(0, len(ids), CHUNK):
        keys = [
            EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=int(i))])
            for i in ids[start : start + CHUNK]
        ]
        for view in views:
            rows = online.online_read(config, view, keys, [f.name for f in view.features])
            for r, (_, feats) in enumerate(rows, start=start):
                if not feats:
                    continue
                found[r] = True
                for name, value in feats.items():
                    kind, c = col[name]
                    v = _python(value)
                    if kind == "s":
                        texts[r, c] = v
                    elif v is not None:
                        values[r, c] = v
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
        self.store = open_store(settings, online, redis)
        self.customer_views = [
            self.store.get_feature_view(v) for v in (spec.CUSTOMER_ACTIVITY, spec.CUSTOMER_PROFILE)
        ]
        self.article_views = [
            self.store.get_feature_view(v) for v in (spec.ARTICLE_SALES, spec.ARTICLE_PROFILE)
        ]
        self.version: str | None = None
        self._checked = -np.inf
        self._articles: Block | None = None
        self._index: dict[int, int] = {}
        self._ids = np.zeros(0, np.int64)

    def refresh(self, force: bool = False) -> bool:
        """Reload the article cache if a new materialization happened; True if reloaded."""
        now = time.monotonic()
        if not force and self._articles is not None and now - self._checked < self.refresh_s:
            return False
        self._checked = now
        stamp = read_stamp(self.store, self.settings)
        if not force and self._articles is not None and stamp == self.version:
            return False
        ids = read_stamp_ids(self.store, self.settings)
        block = read_block(self.store, self.article_views, "article_id", ids.tolist())
        self._index = {int(a): i for i, a in enumerate(ids)}
        self._articles, self._ids, self.version = block, ids, stamp
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
        """Many customers' features (a row each, in order), read from the online store in bulk."""
        return read_block(
            self.store, self.customer_views, "customer_id", [int(c) for c in customer_ids]
        )

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
