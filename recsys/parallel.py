"""Where a map over customer chunks runs: forked processes on this machine, or a Dask cluster.

A stage that works customer chunk by customer chunk (the batch, ranking ahead) prepares what
every chunk reads once (``shared``: the fitted package, the history, feature tables) and maps a
function of (``shared``, chunk) over the chunks. :class:`Parallel` runs that map either in
forked processes (:mod:`recsys.forked`: ``shared`` inherited copy-on-write) or on the workers
of a Dask cluster, where ``shared`` is scattered once (each worker then fetches it once from a
peer) and each task ships only its chunk. Either way the results come back in chunk order, at
most ``window`` chunks in flight, so the output does not depend on where it ran.

On a cluster, a worker that dies mid-chunk is Dask's to handle: the scheduler runs the lost
chunk again on another worker (up to ``distributed.scheduler.allowed-failures`` times) and the
scattered ``shared`` is copied from a worker that still holds it; if none does, the map
scatters it again (:func:`cluster_map`).
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

    @property
    def slots(self) -> int:
        """How many items run at once: the processes here, or the cluster's worker threads."""
        if self.client is None:
            return self.workers
        return sum(self.client.nthreads().values()) or 1

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

    ``shared`` is scattered once, to one worker; each other worker fetches it from a peer when
    its first task needs it and keeps it while its tasks do. At most ``window`` tasks (default:
    two per worker thread) are in flight, so results never pile up ahead of a slow one. Should
    every copy of ``shared`` die with its workers, it is scattered again and the tasks it took
    along are resubmitted (:data:`RESCATTERS` times at most).
    """
    shipped = _Shipped(client, function, shared)
    window = max(1, window or 2 * Parallel(client=client).slots)
    pending: deque = deque()
    try:
        for item in items:
            pending.append((item, shipped.submit(item)))
            if len(pending) >= window:
                yield shipped.result(pending)
        while pending:
            yield shipped.result(pending)
    finally:
        if pending:  # left early (an error): stop what is still queued
            client.cancel([future for _, future in pending])
        shipped.ref.release()


RESCATTERS = 3  # how often a map scatters its shared data again after losing every copy


class _Shipped:
    """A function and its scattered first argument on a cluster (see :func:`cluster_map`).

    Not broadcast: ``Client.scatter(broadcast=True)`` replicates under a scheduler-wide lock,
    and a worker dying mid-replication left it held (every later broadcast waited forever)."""

    def __init__(self, client: Client, function: Callable[[Any, Any], Any], shared: Any) -> None:
        self.client, self.function, self.shared = client, function, shared
        self.lost = 0
        [self.ref] = client.scatter([shared], hash=False)

    def submit(self, item: Any) -> Any:
        """The future of ``function(shared, item)``."""
        return self.client.submit(self.function, self.ref, item, pure=False)

    def result(self, pending: deque) -> Any:
        """The first pending (item, future)'s result, popped; the shared data scattered again
        and every pending item resubmitted if it was lost."""
        from distributed.client import FutureCancelledError

        while True:
            try:
                value = pending[0][1].result()
            except FutureCancelledError:  # the scheduler lost every copy of the shared data
                if self.lost >= RESCATTERS:
                    raise
                self.lost += 1
                self.ref.release()
                [self.ref] = self.client.scatter([self.shared], hash=False)
                for i, (item, _) in enumerate(pending):
                    pending[i] = (item, self.submit(item))
                continue
            pending.popleft()
            return value
