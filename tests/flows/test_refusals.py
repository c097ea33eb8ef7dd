"""Too little data, or a model no better than repurchase-then-popularity: a clear no, and
nothing becomes champion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows.weekly import weekly_retrain
from recsys import registry, schema
from recsys.data.lake import Lake
from recsys.features import store
from recsys.ranking.baselines import BASELINE
from recsys.ranking.min_history import NotEnoughHistory
from tests.flows.conftest import tiny_run_settings

WORSE = [{"kind": "popularity", "quota": 12, "name": "popular_week", "mode": "global"}]


def last_weeks(tiny_world: Path, out: Path, weeks: int) -> Path:
    """A raw folder with the tiny world's articles, customers and its last ``weeks`` weeks."""
    out.mkdir(parents=True)
    for name in (schema.ARTICLES_FILE, schema.CUSTOMERS_FILE):
        shutil.copy(tiny_world / name, out / name)
    frame = pd.read_csv(tiny_world / schema.TRANSACTIONS_FILE, dtype=str)
    dates = pd.to_datetime(frame[schema.T_DAT])
    frame[dates > dates.max() - pd.Timedelta(days=7 * weeks)].to_csv(
        out / schema.TRANSACTIONS_FILE, index=False
    )
    return out


def registered(settings) -> int:
    """How many versions the registry holds."""
    found = registry.client(settings).search_model_versions(f"name='{registry.MODEL_NAME}'")
    return len(found)


def test_hm_pipeline_on_one_week_says_which_weeks_it_found_and_needs(
    tmp_path, tiny_world, prefect_server
):
    from prefect.settings import PREFECT_API_URL

    raw = last_weeks(tiny_world, tmp_path / "raw", 1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HM_")},
        "HM_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "recsys.cli", "pipeline", "-q", "--raw", str(raw)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    said = " ".join(done.stderr.split())
    assert "not enough history to train: the lake holds 1 week(s) (weeks ending 2020-09-22" in said
    assert "needs 9 weeks" in said and "HM_TRAIN_WEEKS" in said and "HM_MIN_HISTORY_WEEKS" in said
    assert "Traceback" not in done.stderr and "Check failed" not in done.stderr
    assert len(done.stderr.splitlines()) < 40, done.stderr
    assert Lake(tmp_path / "home" / "lake").current_version() is not None  # the data is kept


def test_two_weeks_stop_before_training_and_nothing_is_registered_or_published(
    tmp_path, tiny_world, prefect_server
):
    raw = last_weeks(tiny_world, tmp_path / "raw", 2)
    settings = tiny_run_settings(tmp_path / "home")
    with pytest.raises(NotEnoughHistory, match=r"holds 2 week\(s\).*needs 7 weeks"):
        weekly_retrain(raw_dir=str(raw), settings=settings)
    assert registered(settings) == 0
    assert store.read_stamp(store.open_store(settings), settings) is None
    assert registry.version_by_alias(settings, registry.CHAMPION) is None


def test_a_first_challenger_that_does_not_beat_the_baseline_never_becomes_champion(
    tmp_path, published_home, prefect_server
):
    home = tmp_path / "home"
    shutil.copytree(published_home, home)
    settings = tiny_run_settings(home, train_weeks=1, candidates=12)
    summary = weekly_retrain(sources=WORSE, settings=settings)
    gate = summary.gate
    assert not gate.promoted
    assert gate.map <= gate.map_of(BASELINE)
    assert f"does not beat the baseline {BASELINE}" in gate.reason
    assert gate.reason in summary.markdown()
    assert registered(settings) == 1
    assert registry.version_by_alias(settings, registry.CHAMPION) is None
    assert summary.published.champion is None
    run = registry.client(settings).get_run(gate.run_id)
    baseline = run.data.metrics["gate.baseline_map_at_12"]
    assert baseline == pytest.approx(gate.map_of(BASELINE), abs=1e-4)  # the table is rounded
    assert not registry.promotion_decision(settings, gate.version).promote
