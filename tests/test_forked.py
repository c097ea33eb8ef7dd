"""Work over forked processes comes back in order, bounded, and fails loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recsys.forked import ordered_map

BIG = np.arange(1_000_000)  # loaded before the fork: children read it without a copy


def slow_square(item: int) -> tuple[int, int, int]:
    """``item`` squared (the late items fastest), with the worker's pid and a read of BIG."""
    import time

    time.sleep(0.002 * (20 - item % 20))
    return item * item, os.getpid(), int(BIG[item])


def test_results_come_back_in_item_order_from_several_processes() -> None:
    got = list(ordered_map(slow_square, range(60), workers=2, window=3))
    assert [square for square, _, _ in got] == [i * i for i in range(60)]
    assert [read for _, _, read in got] == list(range(60))
    pids = {pid for _, pid, _ in got}
    assert len(pids) == 2 and os.getpid() not in pids


def test_one_worker_runs_in_this_process() -> None:
    got = list(ordered_map(slow_square, range(5), workers=1))
    assert [pid for _, pid, _ in got] == [os.getpid()] * 5


def fails_on_seven(item: int) -> int:
    if item == 7:
        raise RuntimeError("item seven")
    return item


def test_a_failing_item_raises_in_the_caller() -> None:
    with pytest.raises(RuntimeError, match="item seven"):
        list(ordered_map(fails_on_seven, range(20), workers=2))


def single_threaded(_: int) -> int:
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info()), default=1)


def test_workers_run_single_threaded() -> None:
    assert list(ordered_map(single_threaded, range(4), workers=2)) == [1, 1, 1, 1]


KILLED_PARENT = """
import os, sys, time
from pathlib import Path
from recsys.forked import ordered_map

def work(item):
    Path(sys.argv[1], f"worker-{item}").write_text(str(os.getpid()))
    time.sleep(600)

for _ in ordered_map(work, range(2), workers=2):
    pass
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
    return " Z " not in stat  # a zombie has ended


def test_workers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(tmp_path)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.read_text()) for p in tmp_path.glob("worker-*")]
    assert len(workers) == 2 and all(map(alive, workers))
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers)), "a worker outlived its killed parent"
