"""Fault injection: ``kill -9`` of ingest, materialize and the weekly flow at seeded random points.

After every kill the live lake, the online store and the champion are each one consistent
version (the last one published whole), and a re-run completes. Bounded: 4 + 3 + 3 kills on the
tiny world, with one week arriving. Materializations and weekly flows are killed at seeded
fractions of how long they run on this machine (learnt from a run that ends before its kill), so
the kills land however fast the machine is.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import registry, schema
from recsys.data.lake import Lake
from recsys.features import store
from recsys.features.online import OnlineFeatures
from recsys.features.snapshots import read_snapshot
from recsys.settings import Settings
from tests.flows.conftest import TINY_RUN, tiny_run_settings

SEED = 16
NEW_WEEK = dt.date(2020, 9, 22)  # the tiny world's last week arrives as a week file
OLD_CUTOFF, NEW_CUTOFF = dt.date(2020, 9, 16), dt.date(2020, 9, 23)
KILLS: list[str] = []  # what each landed kill interrupted (at least 10 in all)


def split_last_week(tiny_world: Path, root: Path) -> tuple[Path, Path]:
    """Two raw folders: the tiny world without its last week, and the same plus that week as
    ``transactions/2020-09-22.csv``."""
    before, after = root / "raw-before", root / "raw"
    before.mkdir()
    for name in (schema.ARTICLES_FILE, schema.CUSTOMERS_FILE):
        shutil.copy(tiny_world / name, before / name)
    frame = pd.read_csv(tiny_world / schema.TRANSACTIONS_FILE, dtype=str)
    last = pd.to_datetime(frame[schema.T_DAT]) > pd.Timestamp(NEW_WEEK - dt.timedelta(days=7))
    frame[~last].to_csv(before / schema.TRANSACTIONS_FILE, index=False)
    shutil.copytree(before, after)
    (after / "transactions").mkdir()
    frame[last].to_csv(after / "transactions" / f"{NEW_WEEK}.csv", index=False)
    return before, after


def hm(env: dict[str, str], *args: str) -> subprocess.Popen:
    """An `hm` process in a session of its own (so the kill reaches all of it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "recsys.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_when(
    proc: subprocess.Popen, started: Callable[[], bool], delay: float, what: str
) -> float | None:
    """``kill -9`` ``proc`` ``delay`` seconds after ``started()`` holds (if it is still running).
    None when the kill landed; else the seconds the run took from ``started()`` to its end (it
    must have succeeded)."""
    deadline = time.monotonic() + 120
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    since = time.monotonic()
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        KILLS.append(what)
        proc.wait()
        return None
    _, err = proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return time.monotonic() - since


def kill_runs(
    launch: Callable[[], subprocess.Popen],
    started: Callable[[], bool],
    rng: random.Random,
    length: float,
    what: str,
    check: Callable[[], None],
    n: int = 3,
) -> int:
    """Kill ``n`` runs of ``launch()`` at seeded fractions of their length after ``started()``
    holds, ``check()`` after each; ``length`` is a guess until a run ends before its kill, then
    the time that run took. Returns the kills that landed."""
    landed = 0
    for _ in range(3 * n):
        if landed == n:
            break
        took = kill_when(launch(), started, rng.uniform(0.05, 0.8) * length, what)
        landed += took is None
        length = length if took is None else took
        check()
    return landed


def finish(proc: subprocess.Popen) -> None:
    """Wait for a re-run; it must complete."""
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]


def lake_is_whole(settings: Settings) -> str:
    """The live lake version, every table of it readable and as long as its manifest says."""
    lake = Lake(settings.paths.lake)
    manifest = lake.manifest()
    for table in (schema.ARTICLES, schema.CUSTOMERS, schema.TRANSACTIONS):
        assert lake.read(table).num_rows == manifest["rows"][table]
    return lake.current_version()


def online_is_whole(settings: Settings) -> dt.date | None:
    """The cutoff the stamp names, every customer and article value equal to its snapshot."""
    stamp = store.read_stamp(store.open_store(settings), settings)
    if stamp is None:
        return None
    cutoff = dt.date.fromisoformat(stamp.split("@")[0])
    online = OnlineFeatures(settings, refresh_s=0)
    ids, articles, version = online.table()
    assert version == stamp
    snapshots = {kind: read_snapshot(settings.paths.features, kind, cutoff) for kind in store.KINDS}
    customers = snapshots["customer"].column(schema.CUSTOMER_ID).to_numpy()
    blocks = {"customer": online.customers(customers), "article": articles}
    order = {"customer": customers, "article": ids}
    for kind, block in blocks.items():
        frame = snapshots[kind].to_pandas().set_index(store.KINDS[kind]).loc[order[kind]]
        want = frame[block.names].to_numpy(dtype=float)
        np.testing.assert_array_equal(block.values, want, err_msg=f"{kind} views vs {stamp}")
        assert block.found.all()
    return cutoff


def champion_is_servable(settings: Settings) -> str | None:
    """The champion's version, served whole (its candidates and answers are in place)."""
    from serving.recommender import Recommender

    champion = registry.version_by_alias(settings, registry.CHAMPION)
    if champion is None:
        return None
    served = Recommender(settings, on_sale_days=settings.on_sale_days)
    assert served.state.model.version == str(champion.version)
    assert served.state.answers is not None
    return str(champion.version)


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_world: Path, prefect_server: None):
    """A home whose lake holds the tiny world but its last week, a raw folder where that week
    has arrived, and the environment of `hm` on them."""
    from prefect.settings import PREFECT_API_URL

    from recsys.data.ingest import ingest

    root = tmp_path_factory.mktemp("faults")
    before, raw = split_last_week(tiny_world, root)
    ingest(before, tiny_run_settings(root / "home"), progress=False)
    base = {k: v for k, v in os.environ.items() if not k.startswith("HM_")}
    return {
        **base,
        **{f"HM_{k.upper()}": str(v) for k, v in TINY_RUN.items()},
        "HM_HOME": str(root / "home"),
        "HM_RAW": str(raw),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }


@pytest.fixture(scope="module")
def settings(env: dict[str, str]) -> Settings:
    return tiny_run_settings(Path(env["HM_HOME"]))


def test_killed_ingests_leave_the_live_version_whole_and_a_rerun_publishes(env, settings):
    rng = random.Random(SEED)
    lake = Lake(settings.paths.lake)
    before = lake_is_whole(settings)
    for _ in range(4):
        staging = lambda: any(lake.root.glob(".staging-*"))  # noqa: E731
        kill_when(hm(env, "ingest", "-q"), staging, rng.uniform(0, 2.5), "ingest")
        assert lake_is_whole(settings) in {before, lake.current_version()}
    finish(hm(env, "ingest", "-q"))
    after = lake_is_whole(settings)
    assert after != before and not any(lake.root.glob(".staging-*"))
    assert Lake(settings.paths.lake).weeks()[-1] == str(NEW_WEEK)


def test_killed_materializations_keep_one_cutoff_served_and_a_rerun_switches(env, settings):
    rng = random.Random(SEED + 1)
    finish(hm(env, "features", "build", "--weeks", "2", "-q"))
    finish(hm(env, "features", "materialize", "--cutoff", str(OLD_CUTOFF), "-q"))
    assert online_is_whole(settings) == OLD_CUTOFF
    feast = settings.paths.feast
    live = {p.name for p in feast.iterdir()}
    beside = lambda: any(p.name not in live for p in feast.iterdir())  # noqa: E731
    launch = lambda: hm(env, "features", "materialize", "--cutoff", str(NEW_CUTOFF), "-q")  # noqa: E731
    served = lambda: assert_in(online_is_whole(settings), {OLD_CUTOFF, NEW_CUTOFF})  # noqa: E731
    assert kill_runs(launch, beside, rng, 1.0, "materialize", served) == 3
    finish(hm(env, "features", "materialize", "--cutoff", str(NEW_CUTOFF), "-q"))
    assert online_is_whole(settings) == NEW_CUTOFF


def test_killed_weekly_runs_keep_lake_features_and_champion_whole_and_a_rerun_completes(
    env, settings
):
    rng = random.Random(SEED + 2)
    champion = champion_is_servable(settings)

    def whole() -> None:
        lake_is_whole(settings)
        online_is_whole(settings)
        assert champion_is_servable(settings) in {champion, *_versions(settings)}

    launch = lambda: hm(env, "retrain", "-q")  # noqa: E731
    assert kill_runs(launch, lambda: True, rng, 40.0, "weekly flow", whole) == 3
    finish(hm(env, "retrain", "-q"))
    lake_is_whole(settings)
    assert online_is_whole(settings) == NEW_CUTOFF  # the predicted week, online already
    assert champion_is_servable(settings) is not None
    assert len(KILLS) >= 10, KILLS


def assert_in(value: object, allowed: set) -> None:
    assert value in allowed, (value, allowed)


def _versions(settings: Settings) -> set[str]:
    """Every registered version."""
    found = registry.client(settings).search_model_versions(f"name='{registry.MODEL_NAME}'")
    return {str(v.version) for v in found}
