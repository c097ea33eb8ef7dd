"""A stage's peak memory counts the worker processes it starts, not only the process itself."""

from __future__ import annotations

import subprocess
import sys
import time

from flows.clock import StageClock

HOLD = "import time; b = bytearray(400 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(2)"


def test_stage_peak_includes_worker_processes() -> None:
    clock = StageClock()
    with clock("quiet"):
        time.sleep(0.3)
    with clock("worker"):
        done = subprocess.run([sys.executable, "-c", HOLD], check=False)
    assert done.returncode == 0
    assert clock.peaks["worker"] >= clock.peaks["quiet"] + 0.3  # the child's 400 MiB
    assert set(clock.laps) == {"quiet", "worker"}
