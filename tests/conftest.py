"""Shared fixtures: one session-scoped tiny synthetic world and a lake published from it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from recsys.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd

    from recsys.data.lake import Lake
    from recsys.retrieval.history import History

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hm_real"
TINY_SEED = 7


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real H&M samples beside the checkout (CI has them; a user's clone may not)."""
    if not REAL_DATA.exists():
        pytest.skip("real H&M samples (../shared/data/hm_real) not available")
    return REAL_DATA


def redis_db(db: int):
    """A client of local Redis database ``db``, flushed (the test is skipped if Redis is down)."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's temporary local server with a throwaway database."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic world (three Kaggle CSVs), generated once per session."""
    from recsys.data.synthetic import generate_world

    out = tmp_path_factory.mktemp("tiny_world")
    generate_world("tiny", seed=TINY_SEED, out_dir=out, progress=False)
    return out


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings rooted at ``home`` (ignores the caller's HM_* environment)."""
    return Settings(home=home, raw=None, **overrides)


@pytest.fixture(scope="session")
def published_home(tmp_path_factory: pytest.TempPathFactory, tiny_world: Path) -> Path:
    """A project home whose lake holds the tiny world (ingested once per session)."""
    from recsys.data.ingest import ingest

    home = tmp_path_factory.mktemp("published_home")
    ingest(tiny_world, make_settings(home), progress=False)
    return home


@pytest.fixture
def home(tmp_path: Path, published_home: Path) -> Path:
    """A private copy of the published home, free to be modified by one test."""
    target = tmp_path / "home"
    shutil.copytree(published_home, target)
    return target


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings rooted at the test's private home."""
    return make_settings(home)


@pytest.fixture
def raw_copy(tmp_path: Path, tiny_world: Path) -> Path:
    """A private copy of the tiny world's raw files, free to be broken by one test."""
    target = tmp_path / "raw"
    shutil.copytree(tiny_world, target)
    return target


@pytest.fixture(scope="session")
def tiny_lake(published_home: Path) -> Lake:
    """The session's tiny lake (read only)."""
    from recsys.data.lake import Lake

    return Lake(published_home / "lake")


@pytest.fixture(scope="session")
def cutoff(tiny_lake: Lake) -> dt.date:
    """The cutoff whose following week is the last complete week of the tiny world."""
    from recsys.features.cutoffs import default_cutoffs

    return default_cutoffs(tiny_lake, 2)[0]


@pytest.fixture(scope="session")
def history(tiny_lake: Lake, cutoff: dt.date) -> History:
    """Everything before ``cutoff`` (do not mutate)."""
    from recsys.retrieval.history import load_history

    return load_history(tiny_lake, cutoff)


@pytest.fixture(scope="session")
def held_out(tiny_lake: Lake, cutoff: dt.date) -> pd.DataFrame:
    """Unique (customer_id, article_id) bought in the week from ``cutoff``."""
    from recsys.retrieval.history import target_week

    return target_week(tiny_lake, cutoff)


@contextmanager
def hm_serve(env: dict[str, str], timeout_s: float = 120) -> Iterator[str]:
    """A real ``hm serve`` process on a free port with ``env``; yields its URL once it answers."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "recsys.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout_s
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.communicate()[0].decode(errors="replace")
                pytest.fail(f"hm serve did not come up:\n{output[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="session")
def cluster():
    """A client of a Dask cluster of 2 single-threaded worker processes (and their nannies).

    Not Dask's default client, as the loop's own are not: a process forked while a default
    client exists (every stage of the loop) would hand Feast's dataframes to a client whose
    connection lives only in its parent, and wait forever.
    """
    from distributed import Client

    from flows.cluster import local_cluster

    with local_cluster(2) as address, Client(address, set_as_default=False) as client:
        yield client
