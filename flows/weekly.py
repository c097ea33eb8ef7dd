"""Flow ``weekly-retrain``: the one sequencer of the weekly loop.

validate and ingest -> features -> retrievers -> ranker -> evaluate and gate -> publish (online
features, candidates, answers ranked ahead, then the champion alias) -> batch. Run every week
after the week closes (:mod:`flows.deploy`), by ``hm run`` / ``hm retrain``, and by
``hm pipeline`` (no cache, submission from the new model). Failing validation stops it before
anything is built, materialized or registered; a crash in any stage leaves last week's online
features and champion live, and a re-run resumes from the cached stages.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, task

from flows.batch import batch_recommend
from flows.clock import StageClock
from flows.cluster import on_cluster, prefect_for_workers, run_cluster
from flows.features import build_features
from flows.options import RunOptions
from flows.promotion import evaluate_and_gate
from flows.publish import publish
from flows.ranking import train_ranker
from flows.retrieval import train_retrievers
from flows.summary import PlanFacts, RunSummary
from flows.validate import validate_raw
from recsys.home_lock import writer
from recsys.ranking.weeks import WeekPlan
from recsys.settings import Settings

SHAPING = ("candidates", "train_weeks", "train_customers", "sampling", "negatives")
SHAPING += ("valid_customers", "batch_customers", "active_weeks", "threads")


@task(name="plan weeks")
def plan_task(settings: Settings, as_of: dt.date | None) -> WeekPlan:
    """Training, validation and predicted cutoffs of the live lake (as of ``as_of``); refuses a
    lake with too little history (:class:`recsys.ranking.min_history.NotEnoughHistory`)."""
    from recsys.data.lake import Lake
    from recsys.ranking.min_history import check_history
    from recsys.ranking.weeks import plan_weeks

    lake = Lake(settings.paths.lake)
    plan = plan_weeks(lake, settings.train_weeks, as_of)
    check_history(lake, plan, settings.min_history_weeks)
    return plan


@flow(name="weekly-retrain", log_prints=True)
def weekly_retrain(
    raw_dir: str | None = None,
    as_of: dt.date | None = None,
    sources: list[dict] | None = None,
    options: RunOptions | None = None,
    settings: Settings | None = None,
) -> RunSummary:
    """Ingest what arrived, retrain, gate, publish for serving, batch: one run of the loop.

    ``raw_dir`` defaults to ``settings.raw`` (``HM_RAW``); ``as_of`` replays an earlier week;
    ``sources`` replaces the default candidate sources; ``settings`` defaults to the ``HM_*``
    environment of the process that runs the flow (a deployment's worker). With ``HM_DASK``
    the customer-partitioned stages run on a Dask cluster, and the candidate weeks side by side
    on a ``DaskTaskRunner`` there (:mod:`flows.cluster`).
    """
    settings = settings or Settings()
    options = options or RunOptions()
    raw = raw_dir or (str(settings.raw) if settings.raw else None)
    with writer(settings), run_cluster(settings) as clustered, prefect_for_workers(clustered):
        return _run(clustered, raw, as_of, sources, options)


def _run(
    settings: Settings,
    raw: str | None,
    as_of: dt.date | None,
    sources: list[dict] | None,
    options: RunOptions,
) -> RunSummary:
    """The stages in order, under the home's writer lock; the summary as a Prefect artifact."""
    from prefect.artifacts import create_markdown_artifact

    use, bars, clock = options.cache, options.progress, StageClock()
    with clock("ingest"):
        data = validate_raw(settings, raw, bars)
        plan = plan_task(settings, as_of)
    with clock("features"):
        features = build_features(settings, plan.all, bars)
    with clock("candidates"):
        retrievers = on_cluster(train_retrievers, settings)
        weeks = retrievers(settings, plan, data.version, sources, use)
    with clock("train"):
        ranker_dir = train_ranker(settings, weeks, plan.valid, options.binary, use)
    with clock("evaluate"):
        gate = evaluate_and_gate(settings, plan, weeks, ranker_dir, use)
    with clock("publish"):
        published = publish(settings, plan.predict, gate, bars)
    version = gate.version if options.submission == "new" else published.champion
    with clock("batch"):
        out = str(options.out) if options.out else None
        batch = batch_recommend(settings, version or gate.version, out, bars)
    summary = RunSummary(
        plan=PlanFacts(
            train=[str(c) for c in plan.train], valid=str(plan.valid), predict=str(plan.predict)
        ),
        data=data,
        features=features,
        gate=gate,
        published=published,
        batch=batch,
        timings=clock.laps,
        peaks=clock.peaks,
        settings={name: getattr(settings, name) for name in SHAPING},
    )
    create_markdown_artifact(summary.markdown(), key="weekly-retrain", description="weekly retrain")
    return summary
