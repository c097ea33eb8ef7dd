"""One writer per project home: a second writer waits or exits 2 naming the first; killed
writers release the lock and their leftovers are swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from recsys.cli import app
from recsys.data.lake import Lake
from recsys.home_lock import holder, writer
from tests.conftest import make_settings

HOLD = """
import sys, time
from recsys.home_lock import writer
from recsys.settings import Settings
with writer(Settings(home=sys.argv[1], raw=None), "hm retrain --raw /data/week-38"):
    print("held", flush=True)
    time.sleep(120)
"""


def hold(home: Path) -> subprocess.Popen:
    """A process holding ``home``'s writer lock (until killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def hm_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an `hm` process on ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HM_")}
    return {**env, "HM_HOME": str(home), **extra}


def test_a_second_writer_exits_2_naming_the_running_one(tmp_path, tiny_world):
    home = tmp_path / "home"
    holder_proc = hold(home)
    try:
        result = CliRunner().invoke(
            app,
            ["--home", str(home), "ingest", "--raw", str(tiny_world), "-q"],
            env={"HM_BUSY": "fail"},
        )
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert f"pid {holder_proc.pid}" in text
        assert "hm retrain --raw /data/week-38" in text and "since" in text
        assert Lake(home / "lake").current_version() is None  # nothing was written
    finally:
        holder_proc.kill()
        holder_proc.wait()


def test_a_waiting_writer_says_whom_it_waits_for_and_goes_on_when_the_holder_dies(tmp_path):
    home = tmp_path / "home"
    holder_proc = hold(home)
    waiter = subprocess.Popen(  # features build on an empty lake: fails fast once it may write
        [sys.executable, "-m", "recsys.cli", "features", "build", "-q"],
        env=hm_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    said = ""
    deadline = time.monotonic() + 120
    while "waiting for it" not in said and time.monotonic() < deadline:  # it says whom it waits for
        said += waiter.stderr.readline()
    assert waiter.poll() is None and f"pid {holder_proc.pid}" in " ".join(said.split())
    os.kill(holder_proc.pid, signal.SIGKILL)  # the OS releases a killed holder's lock
    holder_proc.wait()
    _, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 1 and "no data in the lake" in err, err


def test_two_ingests_at_once_publish_one_version_and_both_say_so(tmp_path, tiny_world):
    home = tmp_path / "home"
    cmd = [sys.executable, "-m", "recsys.cli", "ingest", "--raw", str(tiny_world), "-q"]
    procs = [
        subprocess.Popen(cmd, env=hm_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e.decode()[-2000:] for _, e in outs]
    said = [" ".join(o.decode().split()) for o, _ in outs]
    lake = Lake(home / "lake")
    version = lake.current_version()
    assert sorted(p.name for p in lake.versions_dir.iterdir()) == [version]
    assert sum(f"-> version {version}" in s for s in said) == 1
    assert sum(f"already holds these files (version {version})" in s for s in said) == 1


def test_the_next_writer_sweeps_a_killed_writers_staging_and_the_holder_note(published_home):
    settings = make_settings(published_home)
    lake = settings.paths.lake
    features = settings.paths.features / "customer"
    features.mkdir(parents=True, exist_ok=True)
    stale = [lake / ".staging-dead1234", settings.paths.features / ".duckdb-0badc0de"]
    stale += [lake / ".CURRENT.ab12cd", features / ".2020-09-23.parquet.1a2b3c4d.tmp"]
    for folder in stale[:2]:
        folder.mkdir()
        (folder / "half.parquet").write_bytes(b"half")
    for file in stale[2:]:
        file.write_text("x")
    live = Lake(lake).current_version()
    with writer(settings, "hm ingest"):
        assert not any(p.exists() for p in stale)
        assert holder(settings)["command"] == "hm ingest"
        with writer(settings):  # re-entrant within a process
            pass
    assert holder(settings) is None
    assert Lake(lake).current_version() == live
