"""Flow ``evaluate-and-promote``: the ranker vs baselines and the champion; register; gate."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, task

from flows.cache import cached, fingerprint, mark_done, stage_dir
from flows.retrieval import as_date
from recsys.settings import get_settings


def week_plan(plan: dict):
    """A :class:`~recsys.ranking.weeks.WeekPlan` from its Prefect parameter form."""
    from recsys.ranking.weeks import WeekPlan

    return WeekPlan(
        tuple(map(as_date, plan["train"])), as_date(plan["valid"]), as_date(plan["predict"])
    )


@task(name="evaluate, register and gate", retries=1, retry_delay_seconds=10)
def evaluate_and_register(key: str, out: str, plan: dict, weeks: dict, ranker_dir: str) -> dict:
    """Compare on the validation week, log to MLflow, register ``challenger``, maybe promote.

    Cached on the ranker and the serving union: a re-run registers nothing twice.
    """
    from recsys import pipeline
    from recsys.data.lake import Lake
    from recsys.ranking.dataset import load_week
    from recsys.ranking.ranker import Ranker
    from recsys.retrieval.sources import parse_sources

    settings, wp = get_settings(), week_plan(plan)
    lake = Lake(settings.paths.lake)
    ranker = Ranker.load(Path(ranker_dir))
    week = load_week(lake, wp.valid, Path(weeks["valid"]))
    specs = parse_sources(weeks["sources"])
    result, recall, champion = pipeline.evaluate_week(settings, lake, wp, ranker, week, specs)
    meta = pipeline.package_meta(settings, lake, wp, specs)
    package = pipeline.serving_package(Path(weeks["serving"]), ranker, meta)
    rows = int((Path(ranker_dir) / "train_rows.txt").read_text())
    pipeline.track_run(settings, result, package, recall, champion, rows)
    summary = outcome(result, champion)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "outcome.json").write_text(json.dumps(summary, indent=1))
    mark_done(Path(out))
    return summary


def outcome(result, champion: tuple[str, float] | None) -> dict:
    """What the report shows of an evaluation: the table, recall and the gate's decision."""
    return {
        "table": result.comparison.round(4).reset_index(names="model").to_dict(orient="records"),
        "recall": {k: round(float(v), 4) for k, v in result.recall.items()},
        "map": float(result.comparison.loc["ranker", "map@12"]),
        "champion": None if champion is None else {"version": champion[0], "map": champion[1]},
        "version": result.version,
        "run_id": result.run_id,
        "promoted": bool(result.decision.promote),
        "reason": result.decision.reason,
    }


@flow(name="evaluate-and-promote", log_prints=True)
def evaluate_and_promote(plan: dict, weeks: dict, ranker_dir: str) -> dict:
    """Register the new package; ``champion`` moves only if it beats the champion's MAP@12."""
    settings = get_settings()
    key = fingerprint(settings, "gate", ranker_dir, weeks["serving"], weeks["valid"])
    out = stage_dir(settings, "gate", key)
    return cached(evaluate_and_register, settings, out)(key, str(out), plan, weeks, ranker_dir)
