"""A stage's peak memory counts the workers it forks, not only the process itself."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from flows.clock import StageClock


def _hold(megabytes: int, seconds: float) -> None:
    block = np.ones(megabytes * 2**20, np.uint8)  # touched: resident
    time.sleep(seconds)
    assert block[-1] == 1


def test_stage_peak_includes_forked_workers() -> None:
    clock = StageClock()
    with clock("quiet"):
        time.sleep(0.3)
    with clock("worker"):
        child = mp.get_context("fork").Process(target=_hold, args=(400, 1.5))
        child.start()
        child.join()
    assert child.exitcode == 0
    assert clock.peaks["worker"] >= clock.peaks["quiet"] + 0.3  # the child's 400 MiB
    assert set(clock.laps) == {"quiet", "worker"}
