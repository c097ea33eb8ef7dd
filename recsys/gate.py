"""The champion gate: a trained package logged and registered in MLflow, judged on its own week.

The new version is registered as ``challenger`` with its run (parameters, metrics, plots, the
``ranker_v1`` contract). The champion of the moment is scored on the same validation week as it
would serve (its own sources, fitted before the week); the challenger wins if its MAP@12 is
higher. The decision is recorded on the run; moving the ``champion`` alias is publishing, which
the weekly loop does once the version's candidates and answers are in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from recsys import registry, schema
from recsys.data.lake import Lake
from recsys.ranking.baselines import BASELINE
from recsys.ranking.dataset import CandidateWeek
from recsys.ranking.evaluate import Evaluation
from recsys.ranking.features import SERVICE
from recsys.ranking.package import RecommenderPackage
from recsys.ranking.weeks import WeekPlan
from recsys.retrieval.sources import SourceSpec
from recsys.settings import Settings

EXPERIMENT = "hm-ranker"
VIEWS = "customer_activity,customer_profile,article_sales,article_profile"


@dataclass(frozen=True)
class Registration:
    """A registered version, its MLflow run and the gate's decision."""

    version: str
    run_id: str
    decision: registry.Decision


def champion_map(
    settings: Settings, lake: Lake, week: CandidateWeek, specs: Sequence[SourceSpec]
) -> tuple[str, float] | None:
    """(version, MAP@12) of the current champion on this week's buyers; None: no champion.

    The champion is judged as it would serve: its own sources, fitted before the week, and its
    own ranker. When its sources are the challenger's, the week's candidates are reused.
    """
    from recsys.evaluation.metrics import map_at_k
    from recsys.ranking.dataset import candidate_week
    from recsys.ranking.evaluate import ranker_recommendations
    from recsys.ranking.features import SnapshotFeatures
    from recsys.retrieval.sources import parse_sources

    current = registry.version_by_alias(settings, registry.CHAMPION)
    if current is None:
        return None
    package = RecommenderPackage.load(registry.download_package(settings, registry.CHAMPION))
    own = package.meta.get("sources", [])
    k = int(package.meta.get("candidates", settings.candidates))
    if own != [s.as_dict() for s in specs] or k != settings.candidates:
        buyers = week.truth[schema.CUSTOMER_ID].unique()
        truth, store = week.truth, week.store or SnapshotFeatures(settings, week.cutoff)
        week = candidate_week(lake, week.cutoff, parse_sources(own), k, buyers)
        week.truth, week.store = truth, store
    return str(current.version), map_at_k(ranker_recommendations(week, package.ranker), week.truth)


def register(
    settings: Settings,
    plan: WeekPlan,
    evaluation: Evaluation,
    package: RecommenderPackage,
    champion: tuple[str, float] | None,
    train_rows: int,
) -> Registration:
    """Log the run to MLflow, register the package as ``challenger`` and record the decision."""
    import tempfile

    import mlflow

    from recsys.tracking import log_json, log_recall_table, mlflow_run

    table = evaluation.sources
    ks = [int(c.split("@")[1]) for c in table if c.startswith("recall@")]
    with mlflow_run(settings, EXPERIMENT, f"train valid {plan.valid}") as run:
        mlflow.log_params(_params(settings, plan, package, train_rows))
        log_json(package.meta, "contract/package.json")
        log_json(package.ranker.features, f"contract/{SERVICE}_features.json")
        _log_evaluation(evaluation, package)
        log_recall_table(table, ks)
        with tempfile.TemporaryDirectory() as tmp:
            package.save(Path(tmp) / "package")
            _, version = registry.log_recommender(Path(tmp) / "package", settings)
        registry.set_alias(settings, registry.CHALLENGER, version)
        baseline = float(evaluation.comparison.loc[BASELINE, "map@12"])
        decision = registry.decide(evaluation.map, champion[1] if champion else None, baseline)
        _log_gate(evaluation.map, champion, baseline)
        mlflow.set_tags({"promoted": str(decision.promote), "decision": decision.reason})
        return Registration(version, run.info.run_id, decision)


def _log_gate(challenger: float, champion: tuple[str, float] | None, baseline: float) -> None:
    """The MAP@12 values of the promotion gate (same week) and the champion's version."""
    import mlflow

    mlflow.log_metric("gate.challenger_map_at_12", challenger)
    mlflow.log_metric("gate.baseline_map_at_12", baseline)
    if champion is not None:
        mlflow.log_metric("gate.champion_map_at_12", champion[1])
        mlflow.set_tag("gate.champion_version", champion[0])


def _params(
    settings: Settings, plan: WeekPlan, package: RecommenderPackage, train_rows: int
) -> dict:
    """Run parameters: data and feature versions, the plan, sampling and LightGBM settings."""
    ranker = package.ranker
    return {
        "lake_version": package.meta["lake_version"],
        "feature_service": SERVICE,
        "feature_views": VIEWS,
        "train_cutoffs": ",".join(package.meta["train_cutoffs"]),
        "valid_cutoff": str(plan.valid),
        "predict_cutoff": str(plan.predict),
        "sources": ",".join(s["name"] for s in package.meta["sources"]),
        "candidates": settings.candidates,
        "sampling": settings.sampling,
        "negatives": settings.negatives,
        "train_rows": train_rows,
        "n_features": len(ranker.features),
        "best_iteration": ranker.best_iteration,
        **{f"lgb_{k}": v for k, v in asdict(ranker.config).items()},
    }


def _log_evaluation(evaluation: Evaluation, package: RecommenderPackage) -> None:
    """Metrics of the ranker, baselines and sources; the comparison plot; importance; curve."""
    import matplotlib.pyplot as plt
    import mlflow

    from recsys.evaluation import plots
    from recsys.tracking import metric_key

    table, ranker = evaluation.comparison, package.ranker
    metrics = {
        metric_key(f"{m}.{c}"): float(v) for m, row in table.iterrows() for c, v in row.items()
    }
    metrics |= {metric_key(f"candidates.{k}"): v for k, v in evaluation.recall.items()}
    if evaluation.binary is not None:
        row = evaluation.binary.iloc[0].items()
        metrics |= {metric_key(f"binary.{c}"): float(v) for c, v in row}
    if evaluation.segments is not None:
        segments = evaluation.segments["map@12"].items()
        metrics |= {metric_key(f"segment.{name}.map@12"): float(v) for name, v in segments}
        mlflow.log_text(_markdown(evaluation.segments), "evaluation/segments.md")
    mlflow.log_metrics(metrics)
    for step, value in enumerate(ranker.curve):
        mlflow.log_metric("valid_map_at_12_by_round", value, step=step + 1)
    mlflow.log_text(_markdown(table), "evaluation/comparison.md")
    mlflow.log_text(ranker.importance().to_csv(), "evaluation/importance.csv")
    for name, fig in (
        ("map_vs_baselines", plots.map_comparison(table)),
        ("importance", plots.importance_plot(ranker.importance())),
        ("learning_curve", plots.learning_curve(ranker.curve, ranker.best_iteration)),
    ):
        mlflow.log_figure(fig, f"evaluation/{name}.png")
        plt.close(fig)


def _markdown(table: pd.DataFrame) -> str:
    """A table as markdown, four decimals."""
    return table.to_markdown(floatfmt=".4f")
