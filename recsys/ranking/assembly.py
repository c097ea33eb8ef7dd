"""The deployable package of a week: the union refitted on everything before the predicted
week, with the ranker trained on the weeks before it and what both were built from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from recsys.data.lake import Lake
from recsys.parallel import Parallel
from recsys.ranking.features import SERVICE
from recsys.ranking.package import RecommenderPackage
from recsys.ranking.ranker import Ranker
from recsys.ranking.weeks import WeekPlan
from recsys.retrieval.sources import SourceSpec
from recsys.settings import Settings


def fit_serving_union(
    lake: Lake,
    cutoff: dt.date,
    specs: Sequence[SourceSpec],
    out: Path,
    progress: bool = False,
    fit_store: Path | None = None,
    workers: int | Parallel = 1,
) -> Path:
    """The union fitted on everything before ``cutoff`` (loaded from ``fit_store`` when fitted
    there on the same history; else fitted by ``workers`` processes) and the week's best
    sellers, saved under ``out`` (``union/``, ``popular.parquet``)."""
    from recsys.ranking.baselines import popular_list
    from recsys.retrieval.fit_cache import fit_or_load_union
    from recsys.retrieval.history import load_history

    history = load_history(lake, cutoff)
    union, _ = fit_or_load_union(history, list(specs), fit_store, progress, workers)
    union.save(out / "union")
    popular_list(history).to_parquet(out / "popular.parquet", index=False)
    return out


def serving_package(path: Path, ranker: Ranker, meta: dict) -> RecommenderPackage:
    """The package of a union saved by :func:`fit_serving_union` and ``ranker``."""
    from recsys.retrieval.registry import load_retriever

    union = load_retriever(path / "union")
    popular = pd.read_parquet(path / "popular.parquet")
    return RecommenderPackage(union, ranker, popular, meta)  # type: ignore[arg-type]


def package_meta(
    settings: Settings, lake: Lake, plan: WeekPlan, specs: Sequence[SourceSpec]
) -> dict:
    """What the package was built from (logged with the model)."""
    return {
        "lake_version": lake.current_version(),
        "feature_service": SERVICE,
        "train_cutoffs": [str(c) for c in plan.train],
        "valid_cutoff": str(plan.valid),
        "sources": [s.as_dict() for s in specs],
        "candidates": settings.candidates,
    }
