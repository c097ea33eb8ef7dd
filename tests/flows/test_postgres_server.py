"""The weekly deployment on a Prefect server backed by PostgreSQL (as in infra/compose.yaml)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES = "postgres@127.0.0.1:5432"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql], check=True)


@pytest.fixture(scope="module")
def postgres_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `prefect server start` on a fresh PostgreSQL database; yields its API URL."""
    import httpx

    try:
        _psql("SELECT 1")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    database, port = f"hm_prefect_{uuid.uuid4().hex[:8]}", _free_port()
    _psql(f"CREATE DATABASE {database}")
    env = {
        **os.environ,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{POSTGRES}/{database}",
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect_home")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the Postgres-backed Prefect server did not start in 120 s")
        yield url
    finally:
        server.terminate()
        server.wait(30)
        _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@contextmanager
def api_url(url: str) -> Iterator[None]:
    """Point this process's Prefect client at ``url``, then back.

    Prefect's process-wide events and log workers keep the API URL they were started with, so
    they are drained on both sides of the switch; otherwise the session's later task-run events
    go to this server after it has stopped, and the session teardown waits on them.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def drain() -> None:
        EventsWorker.drain_all(timeout=30)
        APILogWorker.drain_all(timeout=30)

    drain()
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield
            drain()
    finally:
        drain()


def test_the_weekly_deployment_and_a_flow_run_land_in_postgres(
    postgres_prefect: str, tiny_world: Path, tmp_path: Path
) -> None:
    from flows.deploy import CRON, deployment_parameters, weekly_deployment
    from flows.validate import validate_raw
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "home")
    with api_url(postgres_prefect):
        from prefect import get_client

        parameters = deployment_parameters(settings, tiny_world)
        deployment_id = weekly_deployment(parameters).apply()
        state = validate_raw(settings, str(tiny_world), return_state=True)
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment(deployment_id)
            run = client.read_flow_run(state.state_details.flow_run_id)
    assert deployment.name == "weekly" and deployment.entrypoint.endswith("weekly_retrain")
    assert [s.schedule.cron for s in deployment.schedules] == [CRON]
    assert deployment.parameters["raw_dir"] == str(tiny_world.resolve())
    assert deployment.parameters["settings"]["home"] == str(settings.paths.root)
    assert run.state.is_completed() and state.result().validated
