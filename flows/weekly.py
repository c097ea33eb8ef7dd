"""Flow ``weekly-retrain``: validate, features, retrievers, ranker, gate, publish, batch.

The composition of the stage flows, run every week after the week closes (see
:mod:`flows.deploy`). Failing validation stops it before anything is built, materialized or
registered; a crash in any stage leaves last week's online features and champion live, and a
re-run resumes from the cached stages.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, task

from flows.batch import batch_recommend
from flows.features import build_features, publish_features
from flows.promotion import evaluate_and_promote
from flows.ranking import train_ranker
from flows.report import weekly_report
from flows.retrieval import train_retrievers
from flows.validate import validate_raw
from recsys.settings import get_settings


@task(name="plan weeks")
def plan_task(as_of: dt.date | None) -> dict:
    """Training, validation and predicted cutoffs of the live lake (as of ``as_of``)."""
    from recsys.data.lake import Lake
    from recsys.ranking.weeks import plan_weeks

    settings = get_settings()
    plan = plan_weeks(Lake(settings.paths.lake), settings.train_weeks, as_of)
    return {"train": list(plan.train), "valid": plan.valid, "predict": plan.predict}


@flow(name="weekly-retrain", log_prints=True)
def weekly_retrain(
    raw_dir: str | None = None,
    as_of: dt.date | None = None,
    sources: list[dict] | None = None,
    out: str | None = None,
) -> dict:
    """Retrain on the data as of ``as_of`` (default: all), gate, publish features, batch."""
    from prefect.artifacts import create_markdown_artifact

    data = validate_raw(raw_dir)
    plan = plan_task(as_of)
    features = build_features([*plan["train"], plan["valid"], plan["predict"]])
    weeks = train_retrievers(plan, data["version"], sources)
    ranker_dir = train_ranker(weeks, str(plan["valid"]))
    gate = evaluate_and_promote(plan, weeks, ranker_dir)
    materialized = publish_features(plan["predict"])
    batch = batch_recommend(out)
    summary = {
        "plan": {
            k: [str(c) for c in v] if isinstance(v, list) else str(v) for k, v in plan.items()
        },
        "data": data,
        "features": features,
        "materialized": int(
            materialized.get("customer_rows", 0) + materialized.get("article_rows", 0)
        ),
        "gate": gate,
        "batch": batch,
    }
    summary["report"] = weekly_report(summary)
    create_markdown_artifact(summary["report"], key="weekly-retrain", description="weekly retrain")
    return summary
