"""A function over many items in forked worker processes, results handed back in item order.

The workers are forked from a fresh thread once the caller has loaded what the function reads
(history, package, feature tables): they share those pages copy-on-write instead of loading
copies. Each worker runs single-threaded (OpenMP, BLAS and torch limited to one thread), so
``workers`` processes use ``workers`` cores. At most ``window`` items are in flight, so results
never pile up ahead of a slow one: memory stays bounded by the window, not the number of items.
Forking from a thread that never started an OpenMP team keeps the children clear of the
parent's OpenMP thread pool (libgomp's is per thread and does not survive a fork). A worker
whose parent dies (a killed run) ends itself within a second instead of finishing its item.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

_FUNCTION: list[Callable[[Any], Any]] = []  # in a worker: the function it applies
PARENT_POLL_S = 0.5  # how often a worker checks that its parent is alive


def ordered_map(
    function: Callable[[Any], Any], items: Iterable[Any], workers: int, window: int | None = None
) -> Iterator[Any]:
    """``function(item)`` for each item, in order; ``workers`` <= 1 runs them here, in turn."""
    if workers <= 1:
        yield from map(function, items)
        return
    window = max(workers, window or 2 * workers)
    with forked_pool(function, workers) as submit:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(submit(item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@contextmanager
def forked_pool(function: Callable[[Any], Any], workers: int) -> Iterator[Callable[[Any], Future]]:
    """``submit(item)`` -> a future of ``function(item)`` run in one of ``workers`` forked
    processes. Leaving the block waits for them; leaving it on an error stops them first."""
    pool = _forked_pool(function, workers)
    try:
        yield lambda item: pool.submit(_apply, item)
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now (a long item is not waited for)."""
    for process in dict(getattr(pool, "_processes", None) or {}).values():  # no public API
        if process.is_alive():
            process.terminate()


def _forked_pool(function: Callable[[Any], Any], workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes forked (all of them, now) from a new thread."""
    pool = ProcessPoolExecutor(
        workers, mp_context=mp.get_context("fork"), initializer=_install, initargs=(function,)
    )
    failed: list[BaseException] = []

    def start() -> None:
        try:
            for future in [pool.submit(_ready) for _ in range(workers)]:
                future.result()
        except BaseException as error:  # noqa: BLE001 (re-raised in the caller's thread)
            failed.append(error)

    starter = threading.Thread(target=start, name="fork-workers")
    starter.start()
    starter.join()
    if failed:
        pool.shutdown(cancel_futures=True)
        raise failed[0]
    return pool


def _install(function: Callable[[Any], Any]) -> None:
    """Worker start: keep ``function``, run single-threaded, end with the parent."""
    import sys

    from threadpoolctl import threadpool_limits

    _FUNCTION.append(function)
    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    parent = os.getppid()
    threading.Thread(target=_exit_without, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_without(parent: int) -> None:
    """(In a worker) end this process as soon as ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _ready() -> bool:
    return True


def _apply(item: Any) -> Any:
    return _FUNCTION[-1](item)
