"""A stage's peak memory counts the worker processes it starts, not only the process itself."""

from __future__ import annotations

import itertools
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


def test_the_sampler_backs_off_when_a_sample_is_slow(monkeypatch) -> None:
    """A sample that takes 50 ms (a large process tree) is followed by a wait of 20 times that:
    in 1.6 s the sampler reads the tree a few times, not once every 50 ms."""
    from flows import clock

    calls: list[float] = []

    def slow(pid: int | None = None) -> int:
        calls.append(time.perf_counter())
        time.sleep(0.05)
        return 1

    monkeypatch.setattr(clock, "tree_rss", slow)
    with clock.TreePeak(interval=0.0) as tree:
        time.sleep(1.6)
    assert tree.peak == 1
    assert 3 <= len(calls) <= 4  # the sampler's, ~1 s apart, and the last one at the close
    sampled = calls[:-1]
    assert min(b - a for a, b in itertools.pairwise(sampled)) >= 0.9
