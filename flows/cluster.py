"""The Dask cluster that a run's customer-partitioned stages use (``HM_DASK``).

Unset: no cluster; stages rank their customer chunks in forked processes here. ``local:N``: the
run starts a ``distributed.LocalCluster`` of N single-threaded worker processes for its length
(:func:`run_cluster`) and its stages connect to it by address. An address (``tcp://host:8786``)
names an existing scheduler: the run connects to it and leaves it running. A stage's task
connects with :func:`chunk_runner` (a stage run outside a flow, ``hm batch`` say, starts a
``local:N`` cluster of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from recsys.parallel import Parallel
from recsys.settings import Settings

LOCAL = "local:"
DASK_LOG_LEVEL = logging.WARNING  # Dask's INFO lines (every client, every connection) are noise


@contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask's own loggers at :data:`DASK_LOG_LEVEL` for the block (warnings and errors shown)."""
    logger = logging.getLogger("distributed")
    before = logger.level
    logger.setLevel(max(before, DASK_LOG_LEVEL))
    try:
        yield
    finally:
        logger.setLevel(before)


def local_workers(settings: Settings) -> int | None:
    """N of ``HM_DASK=local:N``; None for no cluster or an existing scheduler."""
    dask = settings.dask or ""
    return int(dask.removeprefix(LOCAL)) if dask.startswith(LOCAL) else None


@contextmanager
def run_cluster(settings: Settings) -> Iterator[Settings]:
    """``settings`` for the block's stages: with ``HM_DASK=local:N``, a LocalCluster started for
    the block and ``dask`` set to its scheduler's address; otherwise ``settings`` unchanged."""
    workers = local_workers(settings)
    if workers is None:
        yield settings
        return
    from distributed import LocalCluster

    with (
        quiet_dask(),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        print(f"Dask: a local cluster of {workers} workers at {cluster.scheduler_address}")
        yield settings.model_copy(update={"dask": cluster.scheduler_address})


@contextmanager
def chunk_runner(settings: Settings) -> Iterator[Parallel]:
    """Where a stage ranks its customer chunks: on ``HM_DASK``'s cluster through a client of
    its own, or in ``settings.threads`` forked processes here."""
    if not settings.dask:
        yield Parallel(settings.threads)
        return
    from distributed import Client

    # not the default client: dask work the stage does not hand over (Feast's dataframes)
    # keeps running here, where the home's files are
    with (
        quiet_dask(),
        run_cluster(settings) as connected,
        Client(connected.dask, set_as_default=False) as client,
    ):
        yield Parallel(client=client)


@contextmanager
def cluster_chunks(settings: Settings) -> Iterator[tuple[Parallel, int] | None]:
    """With ``HM_DASK``: (its cluster, ``settings.batch_customers``), the customer chunks a
    candidate week is retrieved in there; without: None (the week in one piece, here)."""
    if not settings.dask:
        yield None
        return
    with chunk_runner(settings) as where:
        yield where, settings.batch_customers
