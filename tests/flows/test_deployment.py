"""The weekly deployment as it runs in production, on the tiny world.

``hm deploy --raw RAW`` registers ``weekly-retrain`` on the session's Prefect server and runs its
flow runs; runs are started through the Prefect API as the schedule would. Between runs a new
week arrives, once in each layout (the longer ``transactions_train.csv``, then a week file), and
a running ``hm serve`` answers from the new champion and features without a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from recsys import registry
from recsys.data.lake import Lake
from recsys.ranking.package import RecommenderPackage
from recsys.settings import Settings
from tests.conftest import hm_serve, make_settings
from tests.flows.conftest import SOURCES, TINY_RUN

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = "weekly-retrain/weekly-test"
FIRST, SECOND, THIRD = dt.date(2020, 9, 8), dt.date(2020, 9, 15), dt.date(2020, 9, 22)


def rows_until(lines: list[str], last: dt.date, first: dt.date | None = None) -> list[str]:
    """The transaction lines (no header) dated in ``(first, last]``."""
    low, high = (first or dt.date.min).isoformat(), last.isoformat()
    return [ln for ln in lines if low < ln[:10] <= high]


def write(path: Path, lines: list[str]) -> None:
    """Replace ``path`` at once (as a delivery would: written beside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory, tiny_world: Path) -> Path:
    """The tiny world's raw folder as it was on 2020-09-08 (the three Kaggle files)."""
    folder = tmp_path_factory.mktemp("arrival") / "raw"
    folder.mkdir()
    for name in ("articles.csv", "customers.csv"):
        shutil.copy(tiny_world / name, folder / name)
    header, *lines = (tiny_world / "transactions_train.csv").read_text().splitlines()
    write(folder / "transactions_train.csv", [header, *rows_until(lines, FIRST)])
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> dict[str, str]:
    """The environment of `hm deploy` and `hm serve`: one home, small runs, the test server."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path_factory.mktemp("deployed") / "home"
    small = {f"HM_{k.upper()}": str(v) for k, v in TINY_RUN.items()}
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HM_")},
        **small,
        "HM_HOME": str(home),
        "HM_SERVE_REFRESH_S": "0.5",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }


@pytest.fixture(scope="module")
def deployed(raw: Path, env: dict[str, str], tmp_path_factory) -> Iterator[Settings]:
    """`hm deploy --raw RAW` running in its own process; the settings of its home."""
    from prefect import get_client

    sources = tmp_path_factory.mktemp("config") / "sources.json"
    sources.write_text(json.dumps(SOURCES))
    command = [sys.executable, "-m", "recsys.cli", "deploy", "--raw", str(raw)]
    command += ["--config", str(sources), "--name", DEPLOYMENT.split("/")[1]]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with get_client(sync_client=True) as client:
            for _ in range(240):
                try:
                    client.read_deployment_by_name(DEPLOYMENT)
                    break
                except Exception:  # noqa: BLE001 (not registered yet)
                    assert process.poll() is None, process.communicate()[0].decode()[-3000:]
                    time.sleep(0.5)
        yield make_settings(Path(env["HM_HOME"]), **TINY_RUN)
    finally:
        process.terminate()
        process.wait(30)


def scheduled_run() -> None:
    """A run of the deployment, started through the API as the schedule does; waits for it."""
    from prefect.deployments import run_deployment

    run = run_deployment(DEPLOYMENT, timeout=900)
    assert run.state is not None and run.state.is_completed(), run.state


def health_when(url: str, predicate, timeout_s: float = 60) -> dict:
    """``/health`` once ``predicate`` holds for it (the server swaps in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        health = httpx.get(f"{url}/health", timeout=5).json()
        if predicate(health) or time.monotonic() > deadline:
            return health
        time.sleep(0.3)


def champion(settings: Settings) -> tuple[str, dt.date]:
    """(version, the week it predicts) of the model behind ``champion``."""
    version = str(registry.version_by_alias(settings, registry.CHAMPION).version)
    package = RecommenderPackage.load(registry.download_package(settings, version=version))
    return version, package.cutoff


def week_registered(settings: Settings, cutoff: dt.date) -> dict[str, str]:
    """The tags of the newest registered version, which must predict the week from ``cutoff``."""
    client = registry.client(settings)
    newest = max(
        client.search_model_versions(f"name='{registry.MODEL_NAME}'"), key=lambda v: int(v.version)
    )
    package = RecommenderPackage.load(registry.download_package(settings, version=newest.version))
    assert package.cutoff == cutoff
    return client.get_run(newest.run_id).data.tags


def deliveries(raw: Path, tiny_world: Path) -> list[tuple[dt.date, str, Callable[[], None]]]:
    """The two weeks that arrive, each in one layout: (its Tuesday, the file read, delivery)."""
    header, *lines = (tiny_world / "transactions_train.csv").read_text().splitlines()

    def replaced() -> None:  # (a) the full file replaced by a longer one: its tail is read
        write(raw / "transactions_train.csv", [header, *rows_until(lines, SECOND)])

    def dropped() -> None:  # (b) the new week's file dropped beside the history
        week = rows_until(lines, THIRD, SECOND)
        write(raw / "transactions" / f"{THIRD}.csv", [header, *week])

    return [
        (SECOND, "transactions_train.csv", replaced),
        (THIRD, f"transactions/{THIRD}.csv", dropped),
    ]


def test_each_scheduled_run_takes_in_the_week_that_arrived_and_serving_swaps(
    deployed: Settings, raw: Path, env: dict[str, str], tiny_world: Path
) -> None:
    lake = Lake(deployed.paths.lake)
    scheduled_run()  # the first week the deployment sees
    assert lake.manifest()["last_date"] == FIRST.isoformat()
    assert champion(deployed) == ("1", FIRST + dt.timedelta(days=1))
    known = (tiny_world / "customers.csv").read_text().splitlines()[1][:64]
    with hm_serve(env) as url:
        assert httpx.get(f"{url}/health").json()["features_cutoff"] == "2020-09-09"
        for last, name, deliver in deliveries(raw, tiny_world):
            before = lake.current_version()
            deliver()
            scheduled_run()
            cutoff = last + dt.timedelta(days=1)
            assert lake.current_version() != before
            manifest = lake.manifest()
            assert manifest["last_date"] == last.isoformat()
            assert manifest["ingest"]["mode"] == "append"  # the history was not read again
            assert set(manifest["ingest"]["parsed"]) == {name}
            tags = week_registered(deployed, cutoff)  # registered and gated on its week
            assert tags["promoted"] in ("True", "False") and tags["decision"]
            version, _ = champion(deployed)
            health = health_when(
                url,
                lambda h, v=version, c=cutoff: (
                    h["model_version"] == v and h["features_cutoff"] == c.isoformat()
                ),
            )
            assert (health["model_version"], health["features_cutoff"]) == (version, str(cutoff))
            assert health["answers_ranked_ahead"] > 0
            answer = httpx.get(f"{url}/recommendations/{known}").json()
            assert answer["model_version"] == version and len(answer["items"]) == 12
        assert health["swaps"] >= 2
