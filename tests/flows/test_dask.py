"""The weekly loop on a Dask cluster (``HM_DASK``) writes what the loop writes without one, even
when a worker is killed mid-run."""

from __future__ import annotations

import os
import random
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest
from dask.typing import Key
from dask.utils import key_split
from distributed.diagnostics.plugin import WorkerPlugin

from flows.publish import RECS
from flows.summary import RunSummary
from flows.weekly import weekly_retrain
from recsys.schema import CUTOFF
from recsys.settings import Settings
from tests.flows.conftest import SOURCES, tiny_run_settings
from tests.flows.test_weekly import LAST_WEEK


def outputs(settings: Settings) -> dict[str, pd.DataFrame]:
    """The run's training weeks, validation week, member lists and batch, by name."""
    runs = settings.paths.runs
    weeks = [pd.read_parquet(path) for path in runs.glob("train_week/*/frame.parquet")]
    frames = {f"train {w[CUTOFF].iloc[0].date()}": w for w in weeks}  # folders: by key, not date
    frames = dict(sorted(frames.items()))
    for name in ("frame", "truth", "sources"):
        [path] = runs.glob(f"valid_week/*/{name}.parquet")
        frames[f"valid {name}"] = pd.read_parquet(path)
    [path] = runs.glob(f"batch/*/{RECS}")
    frames["batch"] = pd.read_parquet(path)
    return frames


def store_files(settings: Settings) -> dict[str, bytes]:
    """The bytes of the candidate store's arrays (its meta names the run, so it differs)."""
    [store] = [p for p in settings.paths.candidates.iterdir() if not p.is_symlink()]
    return {p.name: p.read_bytes() for p in sorted(store.glob("*.bin"))}


def answer_files(settings: Settings) -> dict[str, bytes]:
    """The bytes of the answers ranked ahead (every customer's list, ids and lengths)."""
    [folder] = [p for p in settings.paths.answers.iterdir() if p.is_dir() and not p.is_symlink()]
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.npy"))}


CHUNK = 300  # customers per chunk: a tiny week in several pieces


def loop_on_a_copy(
    tmp_path_factory: pytest.TempPathFactory, home: Path, name: str, dask: str | None
) -> tuple[Settings, RunSummary]:
    """The weekly loop run on a copy of ``home`` with ``HM_DASK=dask``: its settings, summary."""
    copy = tmp_path_factory.mktemp(name) / "home"
    shutil.copytree(home, copy)
    settings = tiny_run_settings(copy, dask=dask, batch_customers=CHUNK)
    return settings, weekly_retrain(as_of=LAST_WEEK, sources=SOURCES, settings=settings)


@pytest.fixture(scope="module")
def here(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None
) -> tuple[Settings, RunSummary]:
    """The loop without a cluster: what a run on one must write."""
    return loop_on_a_copy(tmp_path_factory, published_home, "here", None)


def assert_same_outputs(got: tuple[Settings, RunSummary], want: tuple[Settings, RunSummary]):
    """Weeks, batch, candidate store, answers and submission are those of ``want``."""
    (cluster, on_cluster), (here, at_home) = got, want
    assert on_cluster.gate.map == at_home.gate.map and on_cluster.gate.promoted
    expected, written = outputs(here), outputs(cluster)
    assert list(written) == list(expected) and len(expected) == 2 + 3 + 1  # two training weeks
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(written[name], frame, check_exact=True, obj=name)
    assert store_files(cluster) == store_files(here)
    answers = answer_files(here)
    assert answers and answer_files(cluster) == answers
    submissions = [Path(s.batch.path).read_bytes() for s in (at_home, on_cluster)]
    assert submissions[0] == submissions[1]


@pytest.mark.slow
def test_the_loop_on_a_local_dask_cluster_writes_what_it_writes_here(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, here: tuple
) -> None:
    run = loop_on_a_copy(tmp_path_factory, published_home, "local", "local:2")
    assert_same_outputs(run, here)


class KillOnce(WorkerPlugin):
    """Kills its worker's process (SIGKILL) as it starts its ``nth`` task named ``prefix``;
    once in the whole cluster (the first to create ``marker``)."""

    def __init__(self, prefix: str, nth: int, marker: Path) -> None:
        self.prefix, self.nth, self.marker, self.seen = key_split(prefix), nth, str(marker), 0

    def transition(self, key: Key, start: str, finish: str, **kwargs: object) -> None:
        if finish != "executing" or key_split(key) != self.prefix:
            return
        self.seen += 1
        if self.seen == self.nth:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_replaced_and_the_run_writes_the_same(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, here: tuple, cluster
) -> None:
    nth = random.Random(18).randint(1, 3)  # a chunk of a candidate week, one of the first
    marker = tmp_path_factory.mktemp("killed") / "killed"
    before = set(cluster.run(os.getpid).values())
    cluster.register_plugin(KillOnce("_week_chunk", nth, marker), name="kill-once")
    try:
        address = cluster.scheduler.address
        run = loop_on_a_copy(tmp_path_factory, published_home, "killed", address)
    finally:
        cluster.unregister_worker_plugin("kill-once")
    assert marker.exists() and set(cluster.run(os.getpid).values()) != before  # one replaced
    prefixes = cluster.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.task_prefixes))
    assert {"training_week_task", "validation_week_task", "serving_union_task"} <= prefixes
    assert_same_outputs(run, here)


def test_a_training_set_over_the_limit_trains_on_the_cluster(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None, cluster
) -> None:
    from recsys.parallel import Parallel
    from recsys.ranking.train import fit_ranker

    home = tmp_path_factory.mktemp("limit") / "home"
    shutil.copytree(published_home, home)
    settings = tiny_run_settings(home)
    weekly_retrain(as_of=LAST_WEEK, sources=SOURCES, settings=settings)
    runs = settings.paths.runs
    train = sorted(runs.glob("train_week/*/frame.parquet"))
    [valid] = [p.parent for p in runs.glob("valid_week/*/frame.parquet")]
    here = fit_ranker(settings, train, valid, where=Parallel(client=cluster))  # under the limit
    tiny = settings.model_copy(update={"dask_train_gib": 1e-9})
    remote = fit_ranker(tiny, train, valid, where=Parallel(client=cluster))
    assert remote.features == here.features and remote.vocab == here.vocab
    assert remote.booster.model_to_string() != here.booster.model_to_string()
    assert max(remote.curve) == pytest.approx(max(here.curve), abs=0.05)


def test_the_compose_workers_can_run_what_the_loop_places_on_them() -> None:
    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "infra" / "compose.yaml").read_text())
    services = compose["services"]
    loop, worker = services["worker"], services["dask-worker"]
    env = worker["environment"]
    assert {k: env[k] for k in loop["environment"]} == loop["environment"]  # home, Prefect API
    assert env["DASK_DISTRIBUTED__WORKER__DAEMON"] == "False"  # stage tasks fork
    assert set(loop["volumes"]) <= set(worker["volumes"])
    scheduler = env["HM_DASK"].removeprefix("tcp://")
    assert scheduler.split(":")[0] in services and f"tcp://{scheduler}" in worker["command"]
