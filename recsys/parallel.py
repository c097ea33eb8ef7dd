"""Where a map over customer chunks runs: forked processes on this machine, or a Dask cluster.

A stage that works customer chunk by customer chunk (the batch, ranking ahead) prepares what
every chunk reads once (``shared``: the fitted package, the history, feature tables) and maps a
function of (``shared``, chunk) over the chunks. :class:`Parallel` runs that map either in
forked processes (:mod:`recsys.forked`: ``shared`` inherited copy-on-write) or on the workers
of a Dask cluster, where ``shared`` is scattered to every worker once and each task ships only
its chunk. Either way the results come back in chunk order, at most ``window`` chunks in
flight, so the output does not depend on where it ran.

On a cluster, a worker that dies mid-chunk is Dask's to handle: the scheduler runs the lost
chunk again on another worker (up to ``distributed.scheduler.allowed-failures`` times) and the
scattered ``shared`` is copied from a worker that still holds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from recsys.forked import ordered_map

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")


def slices(items: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """``items`` in consecutive slices of at most ``size`` (the chunks a stage maps over)."""
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def cluster_or(chunks: tuple[Parallel, int] | None, here: T) -> Parallel | T:
    """Where a stage fits what it fits (union members, the ranker): the cluster of its
    ``chunks`` (a task each there) when they run on one, else ``here``."""
    return chunks[0] if chunks and chunks[0].client is not None else here


@dataclass(frozen=True)
class Parallel:
    """``workers`` forked processes here, or, with ``client``, the workers of its cluster."""

    workers: int = 1
    client: Client | None = None

    def map(
        self,
        function: Callable[[Any, Any], Any],
        shared: Any,
        items: Iterable[Any],
        window: int | None = None,
    ) -> Iterator[Any]:
        """``function(shared, item)`` for each item, in item order."""
        if self.client is None:
            return ordered_map(partial(function, shared), items, self.workers, window)
        return cluster_map(self.client, function, shared, items, window)


def cluster_map(
    client: Client,
    function: Callable[[Any, Any], Any],
    shared: Any,
    items: Iterable[Any],
    window: int | None = None,
) -> Iterator[Any]:
    """``function(shared, item)`` per item as tasks on ``client``'s workers, in item order.

    ``shared`` is scattered to every worker once; at most ``window`` tasks (default: two per
    worker thread) are in flight, so results never pile up ahead of a slow one.
    """
    [ref] = client.scatter([shared], broadcast=True, hash=False)
    slots = sum(client.nthreads().values()) or 1
    window = max(1, window or 2 * slots)
    pending: deque = deque()
    try:
        for item in items:
            pending.append(client.submit(function, ref, item, pure=False))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        if pending:  # left early (an error): stop what is still queued
            client.cancel(list(pending))
        ref.release()
