"""What one request is served from: an immutable snapshot of the champion and the online features.

:class:`ServingModel` is the champion package (union for context and cold start, ranker) with
its precomputed candidates; :class:`ArticleTable` is every article's online features encoded for
that ranker, with the on-sale flag. :class:`ServingState` pairs them. The recommender swaps a
whole state in one assignment, so a request sees one model and one materialization throughout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recsys.features.online import Block, OnlineFeatures
from recsys.ranking.candidate_store import CandidateStore
from recsys.ranking.package import RecommenderPackage
from recsys.settings import Settings
from serving.assemble import FeatureLayout

if TYPE_CHECKING:
    from serving.answers import Answers

log = logging.getLogger(__name__)
ON_SALE_FEATURE = "a_days_since_last_sale"


class NoChampion(RuntimeError):
    """No model is registered under alias ``champion`` yet."""


@dataclass(frozen=True)
class ServingModel:
    """The champion: version, package and its precomputed candidates."""

    version: str
    package: RecommenderPackage
    candidates: CandidateStore

    @classmethod
    def load(cls, settings: Settings, progress: bool = False) -> ServingModel:
        """Download the champion; build its candidates with the batch if they are missing."""
        from recsys import registry
        from recsys.data.lake import Lake
        from recsys.pipeline import candidate_store_dir, predict_step

        current = registry.version_by_alias(settings, registry.CHAMPION)
        if current is None:
            raise NoChampion("no model has alias 'champion': run `hm run` or `hm retrain` first")
        package = RecommenderPackage.load(registry.download_package(settings, registry.CHAMPION))
        path = candidate_store_dir(settings, package)
        if not (path / "meta.json").exists():
            log.warning("no precomputed candidates for champion v%s: running the batch", current)
            predict_step(settings, Lake(settings.paths.lake), package, None, progress)
        return cls(str(current.version), package, CandidateStore.open(path))


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
