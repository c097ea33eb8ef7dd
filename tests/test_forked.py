"""Work over forked processes comes back in order, bounded, and fails loudly."""

from __future__ import annotations

import os

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
