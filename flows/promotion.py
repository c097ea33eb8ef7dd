"""Flow ``evaluate-and-gate``: the ranker vs baselines and the champion, registered as challenger.

The decision is recorded here; the ``champion`` alias moves later, in ``publish``, once the new
version's candidates and answers are in place (so a server never sees a champion it cannot
serve).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow, task

from flows.cache import cached, fingerprint, fresh, mark_done, stage_dir
from flows.own_process import own_process
from flows.ranking import BINARY
from flows.retrieval import CandidateWeeks
from flows.summary import GateFacts
from recsys.ranking.weeks import WeekPlan
from recsys.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from recsys.gate import Registration
    from recsys.ranking.evaluate import Evaluation

OUTCOME = "outcome.json"


@task(name="evaluate and register", retries=1, retry_delay_seconds=10)
@own_process("evaluate")
def evaluate_task(
    settings: Settings, key: str, out: str, plan: WeekPlan, weeks: CandidateWeeks, ranker_dir: str
) -> str:
    """Compare on the validation week, log to MLflow, register ``challenger``, decide.

    Cached on the ranker and the serving union: a re-run registers nothing twice.
    """
    from recsys import gate
    from recsys.data.lake import Lake
    from recsys.ranking.assembly import package_meta, serving_package
    from recsys.ranking.dataset import load_week
    from recsys.ranking.evaluate import evaluate_ranker, history_weeks
    from recsys.ranking.features import SnapshotFeatures
    from recsys.ranking.ranker import Ranker
    from recsys.retrieval.sources import parse_sources

    path, lake = fresh(Path(out)), Lake(settings.paths.lake)
    ranker = Ranker.load(Path(ranker_dir))
    binary = Path(ranker_dir) / BINARY
    store = SnapshotFeatures(settings, plan.valid)  # the week is saved without store features
    recent = history_weeks(settings.active_weeks)
    week = load_week(lake, plan.valid, Path(weeks.valid), recent, store)
    specs = parse_sources(weeks.sources)
    evaluation = evaluate_ranker(
        week,
        ranker,
        settings.candidates,
        settings.active_weeks,
        Ranker.load(binary) if binary.exists() else None,
    )
    champion = gate.champion_map(settings, lake, week, specs)
    package = serving_package(
        Path(weeks.serving), ranker, package_meta(settings, lake, plan, specs)
    )
    rows = int((Path(ranker_dir) / "train_rows.txt").read_text())
    done = gate.register(settings, plan, evaluation, package, champion, rows)
    facts = gate_facts(done, evaluation, champion)
    (path / OUTCOME).write_text(facts.model_dump_json(indent=1))
    return str(mark_done(path))


def gate_facts(
    done: Registration, evaluation: Evaluation, champion: tuple[str, float] | None
) -> GateFacts:
    """What the summary shows of a registration and of the evaluation it registered."""
    segments, binary = evaluation.segments, evaluation.binary
    return GateFacts(
        version=done.version,
        run_id=done.run_id,
        promoted=done.decision.promote,
        reason=done.decision.reason,
        map=evaluation.map,
        champion_version=champion[0] if champion else None,
        champion_map=champion[1] if champion else None,
        table=_records(evaluation.comparison, "model"),
        recall={k: round(float(v), 4) for k, v in evaluation.recall.items()},
        segments=None if segments is None else _records(segments, "segment"),
        binary_map=None if binary is None else float(binary["map@12"].iloc[0]),
    )


def _records(table: pd.DataFrame, index: str) -> list[dict]:
    """A table's rows as dicts, the index as column ``index``, floats rounded."""
    return table.round(4).reset_index(names=index).to_dict(orient="records")


@flow(name="evaluate-and-gate", log_prints=True, validate_parameters=False)
def evaluate_and_gate(
    settings: Settings,
    plan: WeekPlan,
    weeks: CandidateWeeks,
    ranker_dir: str,
    use_cache: bool = True,
) -> GateFacts:
    """Register the new package as challenger and decide whether it replaces the champion."""
    key = fingerprint(settings, "gate", ranker_dir, weeks.serving, weeks.valid)
    out = stage_dir(settings, "gate", key)
    run = cached(evaluate_task, settings, out, use_cache)
    done = run(settings, key, str(out), plan, weeks, ranker_dir)
    return GateFacts.model_validate_json((Path(done) / OUTCOME).read_text())
