"""`weekly_retrain` on the tiny world under a real Prefect server, MLflow registry and Feast store.

The module runs in order: last week's retrain (``as_of``), this week's crashed and resumed
retrain, a cached re-run, a worse model, and bad input.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from flows.weekly import weekly_retrain
from recsys import registry
from recsys.data.errors import ValidationFailed
from recsys.data.lake import Lake
from recsys.features import store
from recsys.settings import get_settings

SOURCES = [
    {"kind": "repurchase", "quota": 30},
    {"kind": "siblings", "quota": 20},
    {"kind": "popularity", "quota": 30, "name": "popular_age", "mode": "age_bucket"},
]
WORSE = [{"kind": "popularity", "quota": 30, "name": "popular_week", "mode": "global"}]
LAST_WEEK = dt.date(2020, 9, 20)  # the tiny world ends 2020-09-22: predicts from 2020-09-16


STAGE_WORK = {  # the pipeline function each cached task runs when it is not a cache hit
    "training week": "train_week",
    "validation week": "valid_week",
    "serving union": "fit_serving_union",
    "fit ranker": "train_step",
    "evaluate, register and gate": "evaluate_week",
}


@pytest.fixture
def stage_work(monkeypatch) -> Counter:
    """How often each stage's work ran in this process, counted by name from ``STAGE_WORK``.

    A cache hit never enters the task's body; counting in process is exact, unlike the server's
    task-run states, which arrive through events some time after the flow returns.
    """
    import recsys.pipeline

    counts: Counter = Counter()
    for stage, name in STAGE_WORK.items():
        real = getattr(recsys.pipeline, name)

        def counted(*args, _real=real, _stage=stage, **kwargs):
            counts[_stage] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(recsys.pipeline, name, counted)
    return counts


def live() -> tuple[str | None, str | None, int]:
    """(online feature stamp, champion version, number of registered versions)."""
    settings = get_settings()
    stamp = store.read_stamp(store.open_store(settings), settings)
    champion = registry.version_by_alias(settings, registry.CHAMPION)
    versions = registry.client(settings).search_model_versions(f"name='{registry.MODEL_NAME}'")
    return stamp, None if champion is None else str(champion.version), len(versions)


@pytest.fixture(scope="module")
def last_week(flow_home: Path) -> dict:
    """Last week's retrain: what is live when this week's runs start."""
    return weekly_retrain(as_of=LAST_WEEK, sources=SOURCES)


def test_weekly_retrain_registers_publishes_batches_and_reports(last_week: dict) -> None:
    from prefect.artifacts import Artifact

    assert last_week["plan"]["predict"] == "2020-09-16"
    assert last_week["gate"]["promoted"] and last_week["gate"]["version"] == "1"
    stamp, champion, _ = live()
    assert stamp.startswith("2020-09-16") and champion == "1"
    lines = Path(last_week["batch"]["path"]).read_text().splitlines()
    customers = Lake(get_settings().paths.lake).read("customers", ["customer_id"]).num_rows
    assert lines[0] == "customer_id,prediction" and len(lines) == customers + 1
    artifact = Artifact.get("weekly-retrain")
    report = last_week["report"]
    for section in ("Data checks", "Features", "Candidate recall", "MAP@12 vs baselines"):
        assert f"## {section}" in report
    assert "promoted" in report and artifact.data == report


def test_a_crash_keeps_last_week_live_and_a_rerun_resumes(
    last_week: dict, monkeypatch, stage_work: Counter
) -> None:
    import recsys.pipeline

    before = live()

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while training the ranker")

    with monkeypatch.context() as patch:
        patch.setattr(recsys.pipeline, "train_step", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            weekly_retrain(sources=SOURCES)
    assert live() == before  # last week's features and champion stay live
    assert stage_work["validation week"] == 1
    summary = weekly_retrain(sources=SOURCES)
    assert stage_work["validation week"] == 1  # resumed from the cache, not rebuilt
    assert stage_work["fit ranker"] == 1 and stage_work["evaluate, register and gate"] == 1
    assert summary["plan"]["predict"] == "2020-09-23"
    assert live()[0].startswith("2020-09-23")


def test_a_rerun_hits_the_cache_and_registers_nothing_new(
    last_week: dict, stage_work: Counter
) -> None:
    before = live()
    weekly_retrain(sources=SOURCES)
    assert stage_work == Counter()  # every expensive stage came from the cache
    stamp, *registry_state = live()
    assert registry_state == list(before[1:])  # no new version, same champion
    assert stamp.split("@")[0] == before[0].split("@")[0]  # same week re-published


def test_a_worse_model_is_registered_but_never_promoted(last_week: dict) -> None:
    _, champion, versions = live()
    summary = weekly_retrain(sources=WORSE)
    assert not summary["gate"]["promoted"]
    assert summary["gate"]["map"] < summary["gate"]["champion"]["map"]
    assert live()[1:] == (champion, versions + 1)


def test_bad_input_stops_before_anything_is_materialized_or_registered(
    last_week: dict, raw_copy: Path
) -> None:
    lines = (raw_copy / "transactions_train.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 2)[0] + ",-0.5,2"  # negative price
    (raw_copy / "transactions_train.csv").write_text("\n".join(lines) + "\n")
    before = live()
    lake_version = Lake(get_settings().paths.lake).current_version()
    with pytest.raises(ValidationFailed, match="price"):
        weekly_retrain(raw_dir=str(raw_copy), sources=SOURCES)
    assert live() == before
    assert Lake(get_settings().paths.lake).current_version() == lake_version
