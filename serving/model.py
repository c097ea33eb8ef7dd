"""What one request is served from: an immutable snapshot of the champion and the online features.

:class:`ServingModel` is a published model (union for context and cold start, ranker) with its
precomputed candidates; :class:`ArticleTable` is every article's online features encoded for
that ranker, with the on-sale flag. :class:`ServingState` pairs them (with the answers ranked
ahead for it, when the loop published them). The recommender swaps a whole state in one
assignment, so a request sees one model and one materialization throughout. Everything here is
loaded from what the weekly loop published; nothing is computed that the loop should have.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from recsys.features.online import Block, OnlineFeatures
from recsys.features.store import open_store, read_stamp
from recsys.ranking.candidate_store import CandidateStore, package_store
from recsys.ranking.package import RecommenderPackage
from recsys.schema import K
from recsys.settings import Settings
from serving.answers import Answers
from serving.assemble import FeatureLayout

log = logging.getLogger(__name__)
ON_SALE_FEATURE = "a_days_since_last_sale"
RUN_THE_LOOP = "the weekly loop publishes it: run `hm run` (or `hm retrain --raw DIR`)"


class NotPublished(RuntimeError):
    """Something serving loads has not been published by the weekly loop in this home yet."""


@dataclass(frozen=True)
class ServingModel:
    """A published model: version, package and its precomputed candidates."""

    version: str
    package: RecommenderPackage
    candidates: CandidateStore

    @classmethod
    def load(cls, settings: Settings, version: str | None = None) -> ServingModel:
        """``version`` (default: the champion) with the candidates the loop wrote for it."""
        version, path, store = model_published(settings, version)
        return cls(version, RecommenderPackage.load(path), CandidateStore.open(store))


def model_published(settings: Settings, version: str | None = None) -> tuple[str, Path, Path]:
    """(version, package folder, candidate store) of ``version`` (default: the champion);
    :class:`NotPublished` if there is no champion or its candidates were not written."""
    from recsys import registry

    if version is None:
        current = registry.version_by_alias(settings, registry.CHAMPION)
        if current is None:
            raise NotPublished(f"no champion model in {settings.paths.root}: {RUN_THE_LOOP}")
        version = str(current.version)
    path = registry.download_package(settings, version=version)
    store = package_store(settings, RecommenderPackage.key_of(path))
    if not (store / "meta.json").exists():
        raise NotPublished(f"no candidates for model v{version} in {store}: {RUN_THE_LOOP}")
    return version, path, store


def features_published(settings: Settings, online: str | None, redis: str | None) -> str:
    """The online store's stamp; :class:`NotPublished` if nothing was ever materialized."""
    stamp = read_stamp(open_store(settings, online, redis), settings)  # type: ignore[arg-type]
    if stamp is None:
        where = online or settings.online_store
        raise NotPublished(f"no features in the {where} online store: {RUN_THE_LOOP}")
    return stamp


@dataclass(frozen=True)
class ArticleTable:
    """All articles' ranker columns for one model and one materialization."""

    version: str | None  # the online store's stamp
    ids: np.ndarray  # sorted article ids
    matrix: np.ndarray  # (articles, layout.article) float32
    on_sale: np.ndarray  # bool per article

    def rows(self, article_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row per id, known) for ``article_ids``."""
        pos = np.clip(np.searchsorted(self.ids, article_ids), 0, max(len(self.ids) - 1, 0))
        known = self.ids[pos] == article_ids if len(self.ids) else np.zeros(len(pos), bool)
        return pos, known


def article_table(
    features: OnlineFeatures, layout: FeatureLayout, on_sale_days: int | None
) -> ArticleTable:
    """Encode every cached article once (reloaded by ``features`` on a new materialization)."""
    ids, block, version = features.table()
    order = np.argsort(ids, kind="stable")
    matrix = layout.article_matrix(block)[order]
    on_sale = block.found[order]
    if on_sale_days is not None and ON_SALE_FEATURE in block.names:
        days = block.values[order, block.names.index(ON_SALE_FEATURE)]
        on_sale &= days <= on_sale_days
    return ArticleTable(version, ids[order].astype(np.int64), matrix, on_sale)


@dataclass(frozen=True)
class ServingState:
    """One consistent (model, layout, article table), with its answers ranked ahead if any."""

    model: ServingModel
    layout: FeatureLayout
    articles: ArticleTable
    answers: Answers | None = None

    @cached_property
    def key(self) -> str:
        """What the state's answers depend on: booster, candidates, features, on-sale set
        (computed once per state: the watcher asks on every refresh)."""
        sale = self.articles.ids.tobytes() + self.articles.on_sale.tobytes()
        parts = [
            self.model.package.ranker.booster.model_to_string(),
            self.model.package.key(),
            str(self.model.version),
            str(self.articles.version),
            hashlib.sha256(sale).hexdigest(),
            str(K),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def serving_state(
    model: ServingModel, features: OnlineFeatures, probe: Block, on_sale_days: int | None
) -> ServingState:
    """The state for ``model`` over ``features``' current materialization."""
    ranker = model.package.ranker
    _, articles, _ = features.table()
    layout = FeatureLayout.build(
        ranker.features, ranker.vocab, model.candidates.columns, probe, articles
    )
    return ServingState(model, layout, article_table(features, layout, on_sale_days))
