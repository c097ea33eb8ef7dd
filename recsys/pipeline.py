"""The offline loop end to end: raw files -> lake -> features -> retrieval -> ranker -> registry.

Each step is a plain function over ``recsys`` (the Prefect flows wrap the same steps as tasks);
``run_pipeline`` chains them for ``hm pipeline``. Training weeks are fitted and labelled strictly
from their own past; the validation week is the last complete week; the package that predicts
the week after the data is fitted on everything.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema
from recsys.data.lake import Lake
from recsys.ranking.dataset import CandidateWeek, union_columns
from recsys.ranking.features import store_feature_names
from recsys.ranking.interactions import feature_names
from recsys.ranking.package import RecommenderPackage
from recsys.ranking.ranker import Ranker, RankerConfig
from recsys.ranking.weeks import WeekPlan
from recsys.retrieval.history import History
from recsys.retrieval.sources import SourceSpec
from recsys.retrieval.union import UnionRetriever
from recsys.settings import Settings


@dataclass
class PipelineResult:
    """What a pipeline run produced and measured."""

    plan: WeekPlan
    comparison: pd.DataFrame
    recall: dict[str, float]
    ranker: Ranker
    timings: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    submission: Path | None = None
    run_id: str | None = None
    version: str | None = None
    decision: object | None = None
    binary: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None


class Timer:
    """Named wall-clock laps and the process's peak memory after each: ``with timer("train")``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.laps[name] = round(time.perf_counter() - start, 2)
        self.peaks[name] = peak_gib()


def peak_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def model_features(week: CandidateWeek) -> list[str]:
    """The ranker's inputs: union features, interactions, and the ``ranker_v1`` store features."""
    store = store_feature_names()
    return [*union_columns(week.union), *feature_names(), *store["customer"], *store["article"]]


def prepare_features(settings: Settings, lake: Lake, plan: WeekPlan, progress: bool) -> None:
    """Snapshots for every planned cutoff (up-to-date ones are kept) and ``feast apply``."""
    from recsys.features import store
    from recsys.features.snapshots import build_snapshots

    build_snapshots(lake, plan.all, settings.paths.features, progress)
    store.apply(settings)


def build_weeks(
    settings: Settings, lake: Lake, plan: WeekPlan, specs: list[SourceSpec], progress: bool
) -> tuple[pd.DataFrame, CandidateWeek]:
    """The sampled training rows of the training weeks, and the validation week."""
    parts = [
        train_week(settings, lake, cutoff, i, specs, progress)
        for i, cutoff in enumerate(plan.train)
    ]
    return pd.concat(parts, ignore_index=True), valid_week(
        settings, lake, plan.valid, specs, progress
    )


def train_week(
    settings: Settings,
    lake: Lake,
    cutoff: dt.date,
    index: int,
    specs: list[SourceSpec],
    progress: bool,
) -> pd.DataFrame:
    """The ``index``-th training week's rows: at most ``HM_TRAIN_CUSTOMERS`` of its buyers,
    negatives sampled before the store features are joined (seeded per week)."""
    from recsys.ranking.weeks import featurised_week, sample_buyers

    seed = settings.seed + index
    sampling = (settings.sampling, settings.negatives, seed)
    buyers = sample_buyers(lake, cutoff, settings.train_customers, seed)
    week = featurised_week(
        settings, lake, cutoff, specs, settings.candidates, buyers, progress, sampling
    )
    return week.frame


def valid_week(
    settings: Settings, lake: Lake, cutoff: dt.date, specs: list[SourceSpec], progress: bool
) -> CandidateWeek:
    """Every candidate of (at most ``HM_VALID_CUSTOMERS``) buyers; truth cut to those buyers."""
    from recsys.ranking.weeks import featurised_week, sample_buyers

    asked = sample_buyers(lake, cutoff, settings.valid_customers, settings.seed)
    week = featurised_week(settings, lake, cutoff, specs, settings.candidates, asked, progress)
    week.truth = week.truth[week.truth[schema.CUSTOMER_ID].isin(asked)]
    return week


def candidate_recall(week: CandidateWeek) -> dict[str, float]:
    """Recall of the validation week's candidate pool at 12/50/100/200."""
    from recsys.evaluation.recall import recall_at_k

    widest = int(week.frame[schema.RANK].max())
    ks = sorted({k for k in (12, 50, 100, 200) if k < widest} | {widest})
    return recall_at_k(week.frame, week.truth, ks)


def serving_union(
    lake: Lake, cutoff: dt.date, specs: list[SourceSpec], progress: bool
) -> tuple[UnionRetriever, pd.DataFrame, History]:
    """The union fitted on everything before ``cutoff``, the fallback best sellers, the history."""
    from recsys.ranking.baselines import popular_list
    from recsys.retrieval.evaluate import fit_union
    from recsys.retrieval.history import load_history

    history = load_history(lake, cutoff)
    union, _ = fit_union(history, specs, progress)
    return union, popular_list(history), history


def fit_package(
    settings: Settings,
    lake: Lake,
    plan: WeekPlan,
    specs: list[SourceSpec],
    ranker: Ranker,
    meta: dict,
    progress: bool,
) -> tuple[RecommenderPackage, History]:
    """The union fitted on everything before the predicted week, packaged with the ranker."""
    union, popular, history = serving_union(lake, plan.predict, specs, progress)
    return RecommenderPackage(union, ranker, popular, meta), history


def fit_serving_union(lake: Lake, cutoff: dt.date, specs: list[SourceSpec], out: Path) -> Path:
    """:func:`serving_union` saved under ``out`` (``union/``, ``popular.parquet``)."""
    union, popular, _ = serving_union(lake, cutoff, specs, False)
    union.save(out / "union")
    popular.to_parquet(out / "popular.parquet", index=False)
    return out


def serving_package(path: Path, ranker: Ranker, meta: dict) -> RecommenderPackage:
    """The package of a union saved by :func:`fit_serving_union` and ``ranker``."""
    from recsys.retrieval.registry import load_retriever

    union = load_retriever(path / "union")
    popular = pd.read_parquet(path / "popular.parquet")
    return RecommenderPackage(union, ranker, popular, meta)  # type: ignore[arg-type]


def batch_recommend(
    settings: Settings,
    lake: Lake,
    package: RecommenderPackage,
    customers: np.ndarray,
    progress: bool,
    history: History | None = None,
    store: Path | None = None,
) -> pd.DataFrame:
    """Top-12 for ``customers`` in chunks (features from the predicted cutoff's snapshot).

    With ``store``, the ranked customers' candidate rows are kept there for the online server.
    """
    from recsys.ranking.batch import batch_recommendations
    from recsys.ranking.candidate_store import CandidateStoreWriter
    from recsys.ranking.features import SnapshotFeatures
    from recsys.retrieval.history import load_history

    history = history if history is not None else load_history(lake, package.cutoff)
    reader = SnapshotFeatures(settings, package.cutoff)
    options = (settings.candidates, settings.batch_customers, settings.active_weeks)
    writer = CandidateStoreWriter(store) if store is not None else None
    sink = writer.append if writer is not None else None
    recs = batch_recommendations(package, customers, history, reader, options, progress, sink)
    if writer is not None:
        writer.close({"cutoff": package.cutoff, "package": package.key(), **package.meta})
    return recs


def champion_map(
    settings: Settings, lake: Lake, week: CandidateWeek, specs: list[SourceSpec]
) -> tuple[str, float] | None:
    """(version, MAP@12) of the current champion on this week's buyers; None: no champion.

    The champion is judged as it would serve: its own sources, fitted before the week, and its
    own ranker. When its sources are the challenger's, the week's candidates are reused.
    """
    from recsys import registry
    from recsys.evaluation.metrics import map_at_k
    from recsys.ranking.evaluate import ranker_recommendations
    from recsys.ranking.weeks import featurised_week
    from recsys.retrieval.sources import parse_sources

    current = registry.version_by_alias(settings, registry.CHAMPION)
    if current is None:
        return None
    package = RecommenderPackage.load(registry.download_package(settings, registry.CHAMPION))
    own = package.meta.get("sources", [])
    k = int(package.meta.get("candidates", settings.candidates))
    if own != [s.as_dict() for s in specs] or k != settings.candidates:
        buyers = week.truth[schema.CUSTOMER_ID].unique()
        truth = week.truth
        week = featurised_week(settings, lake, week.cutoff, parse_sources(own), k, buyers)
        week.truth = truth
    return str(current.version), map_at_k(ranker_recommendations(week, package.ranker), week.truth)


def ingest_step(settings: Settings, raw: Path | None, progress: bool) -> Lake:
    """Validate and publish ``raw`` (a no-op when the lake already holds these files)."""
    from recsys.data.ingest import ingest
    from recsys.data.lake import LakeEmptyError

    if raw is not None:
        ingest(Path(raw), settings, progress=progress)
    lake = Lake(settings.paths.lake)
    if lake.current_version() is None:
        raise LakeEmptyError(f"the lake at {lake.root} is empty: give --raw-dir or run `hm ingest`")
    return lake


def train_step(
    settings: Settings, train: pd.DataFrame, valid: CandidateWeek, objective: str = "lambdarank"
) -> Ranker:
    """LightGBM on the sampled rows, early-stopped on the validation week's MAP@12."""
    from recsys.ranking.train import train_ranker

    config = RankerConfig(
        objective=objective,  # type: ignore[arg-type]
        seed=settings.seed,
        threads=settings.threads,
    )
    return train_ranker(train, valid.frame, valid.truth, model_features(valid), config)


def source_recall(
    week: CandidateWeek, k: int, sources: dict[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Recall@12..k of each source alone (``sources``: their top ``k``) and of the union."""
    from recsys.evaluation.recall import recall_table
    from recsys.ranking.evaluate import source_lists

    frames = dict(sources if sources is not None else source_lists(week, k))
    frames["union"] = week.frame
    ks = [c for c in (12, 50, 100, 200) if c <= k]
    return recall_table(frames, week.truth, ks)


def run_pipeline(
    settings: Settings,
    raw: Path | None,
    out: Path | None,
    specs: list[SourceSpec],
    progress: bool = True,
    compare_binary: bool = False,
    track: bool = True,
) -> PipelineResult:
    """validate -> ingest -> features -> retrieval -> ranker -> evaluation -> batch -> registry."""
    from recsys.ranking.weeks import plan_weeks

    timer = Timer()
    with timer("ingest"):
        lake = ingest_step(settings, raw, progress)
        plan = plan_weeks(lake, settings.train_weeks)
    with timer("features"):
        prepare_features(settings, lake, plan, progress)
    with timer("candidates"):
        train, valid = build_weeks(settings, lake, plan, specs, progress)
    with timer("train"):
        ranker = train_step(settings, train, valid)
    with timer("evaluate"):
        result, recall, champion = evaluate_week(
            settings, lake, plan, ranker, valid, specs, train, compare_binary, track
        )
    train_rows = len(train)
    del train, valid  # the batch step needs the memory
    with timer("batch"):
        meta = package_meta(settings, lake, plan, specs)
        package, history = fit_package(settings, lake, plan, specs, ranker, meta, progress)
        result.submission = predict_step(settings, lake, package, out, progress, history)
        del history
    if track:
        with timer("track"):
            track_run(settings, result, package, recall, champion, train_rows)
    result.timings, result.peaks = timer.laps, timer.peaks
    return result


def evaluate_week(
    settings: Settings,
    lake: Lake,
    plan: WeekPlan,
    ranker: Ranker,
    valid: CandidateWeek,
    specs: list[SourceSpec],
    train: pd.DataFrame | None = None,
    compare_binary: bool = False,
    track: bool = True,
) -> tuple[PipelineResult, pd.DataFrame, tuple[str, float] | None]:
    """The ranker on the validation week: comparison (and segments), the candidate recall table,
    and the champion's (version, MAP@12) on the same week (None: no champion or no tracking)."""
    from recsys.ranking.evaluate import source_lists

    sources = source_lists(valid, settings.candidates)  # retrieved once for both tables
    result = evaluate_step(settings, plan, ranker, train, valid, compare_binary, sources)
    recall = source_recall(valid, settings.candidates, sources)
    del sources
    champion = champion_map(settings, lake, valid, specs) if track else None
    return result, recall, champion


def evaluate_step(
    settings: Settings,
    plan: WeekPlan,
    ranker: Ranker,
    train: pd.DataFrame | None,
    valid: CandidateWeek,
    compare_binary: bool,
    sources: dict[str, pd.DataFrame] | None = None,
) -> PipelineResult:
    """The ranker next to baselines and sources (and a binary classifier, if asked)."""
    from recsys.ranking.evaluate import comparison_table, ranker_recommendations, segment_table

    ranked = ranker_recommendations(valid, ranker)  # scored once for both tables
    table = comparison_table(valid, ranker, sources, ranked)
    result = PipelineResult(plan, table, candidate_recall(valid), ranker)
    if settings.active_weeks is not None:
        result.segments = segment_table(valid, ranked, settings.active_weeks)
    if compare_binary and train is not None:
        binary = train_step(settings, train, valid, "binary")
        result.binary = comparison_table(valid, binary).loc[["ranker"]]
    return result


def predict_step(
    settings: Settings,
    lake: Lake,
    package: RecommenderPackage,
    out: Path | None,
    progress: bool,
    history: History | None = None,
) -> Path | None:
    """Recommendations for every customer; written in Kaggle's format to ``out`` if given."""
    from recsys.ranking.submission import submission_frame, write_submission

    customers = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID, schema.CUSTOMER_HEX]).to_pandas()
    ids = customers[schema.CUSTOMER_ID].to_numpy()
    store = candidate_store_dir(settings, package)
    recs = batch_recommend(settings, lake, package, ids, progress, history, store)
    return write_submission(submission_frame(recs, customers), out) if out else None


def candidate_store_dir(settings: Settings, package: RecommenderPackage) -> Path:
    """Where the batch keeps a package's precomputed candidates for the online server."""
    return settings.paths.root / "serving" / "candidates" / package.key()


def package_meta(settings: Settings, lake: Lake, plan: WeekPlan, specs: list[SourceSpec]) -> dict:
    """What the package was built from (logged with the model)."""
    return {
        "lake_version": lake.current_version(),
        "feature_service": "ranker_v1",
        "train_cutoffs": [str(c) for c in plan.train],
        "valid_cutoff": str(plan.valid),
        "sources": [s.as_dict() for s in specs],
        "candidates": settings.candidates,
    }


def track_run(
    settings: Settings,
    result: PipelineResult,
    package: RecommenderPackage,
    recall: pd.DataFrame,
    champion: float | None,
    train_rows: int,
) -> None:
    """Log the run to MLflow (``hm-ranker``), register the package, move the aliases."""
    import tempfile

    import mlflow

    from recsys import registry
    from recsys.tracking import log_json, log_recall_table, mlflow_run

    cutoff = str(result.plan.valid)
    with mlflow_run(settings, "hm-ranker", f"train valid {cutoff}") as run:
        mlflow.log_params(_params(settings, result, package, train_rows))
        log_json(package.meta, "contract/package.json")
        log_json(result.ranker.features, "contract/ranker_v1_features.json")
        _log_comparison(result)
        log_recall_table(recall, [int(c.split("@")[1]) for c in recall if c.startswith("recall@")])
        with tempfile.TemporaryDirectory() as tmp:
            package.save(Path(tmp) / "package")
            _, version = registry.log_recommender(Path(tmp) / "package", settings)
        registry.set_alias(settings, registry.CHALLENGER, version)
        challenger = float(result.comparison.loc["ranker", "map@12"])
        decision = registry.decide(challenger, champion[1] if champion else None)
        _log_gate(challenger, champion)
        if decision.promote:
            registry.set_alias(settings, registry.CHAMPION, version)
        mlflow.set_tags({"promoted": str(decision.promote), "decision": decision.reason})
        result.run_id, result.version, result.decision = run.info.run_id, version, decision


def _log_gate(challenger: float, champion: tuple[str, float] | None) -> None:
    """Both MAP@12 values of the promotion gate (same week) and the champion's version."""
    import mlflow

    mlflow.log_metric("gate.challenger_map_at_12", challenger)
    if champion is not None:
        mlflow.log_metric("gate.champion_map_at_12", champion[1])
        mlflow.set_tag("gate.champion_version", champion[0])


def _params(settings: Settings, result: PipelineResult, package, train_rows: int) -> dict:
    """Run parameters: data and feature versions, the plan, sampling and LightGBM settings."""
    from dataclasses import asdict

    return {
        "lake_version": package.meta["lake_version"],
        "feature_service": "ranker_v1",
        "feature_views": "customer_activity,customer_profile,article_sales,article_profile",
        "train_cutoffs": ",".join(package.meta["train_cutoffs"]),
        "valid_cutoff": str(result.plan.valid),
        "predict_cutoff": str(result.plan.predict),
        "sources": ",".join(s["name"] for s in package.meta["sources"]),
        "candidates": settings.candidates,
        "sampling": settings.sampling,
        "negatives": settings.negatives,
        "train_rows": train_rows,
        "n_features": len(result.ranker.features),
        "best_iteration": result.ranker.best_iteration,
        **{f"lgb_{k}": v for k, v in asdict(result.ranker.config).items()},
    }


def _log_comparison(result: PipelineResult) -> None:
    """Metrics of the ranker, baselines and sources; the comparison plot; importance; curve."""
    import matplotlib.pyplot as plt
    import mlflow

    from recsys.evaluation import plots
    from recsys.tracking import metric_key

    table = result.comparison
    metrics = {
        metric_key(f"{m}.{c}"): float(v) for m, row in table.iterrows() for c, v in row.items()
    }
    metrics |= {metric_key(f"candidates.{k}"): v for k, v in result.recall.items()}
    if result.binary is not None:
        metrics |= {metric_key(f"binary.{c}"): float(v) for c, v in result.binary.iloc[0].items()}
    if result.segments is not None:
        segments = result.segments["map@12"].items()
        metrics |= {metric_key(f"segment.{name}.map@12"): float(v) for name, v in segments}
        mlflow.log_text(result.segments.to_markdown(floatfmt=".4f"), "evaluation/segments.md")
    mlflow.log_metrics(metrics)
    for step, value in enumerate(result.ranker.curve):
        mlflow.log_metric("valid_map_at_12_by_round", value, step=step + 1)
    mlflow.log_text(table.to_markdown(floatfmt=".4f"), "evaluation/comparison.md")
    mlflow.log_text(result.ranker.importance().to_csv(), "evaluation/importance.csv")
    for name, fig in (
        ("map_vs_baselines", plots.map_comparison(table)),
        ("importance", plots.importance_plot(result.ranker.importance())),
        ("learning_curve", plots.learning_curve(result.ranker.curve, result.ranker.best_iteration)),
    ):
        mlflow.log_figure(fig, f"evaluation/{name}.png")
        plt.close(fig)
