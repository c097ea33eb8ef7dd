"""The Dask cluster that a run's customer-partitioned stages use (``HM_DASK``).

Unset: no cluster; stages rank their customer chunks in forked processes here. ``local:N``: the
run starts a ``distributed.LocalCluster`` of N single-threaded worker processes for its length
(:func:`run_cluster`) and its stages connect to it by address. An address (``tcp://host:8786``)
names an existing scheduler: the run connects to it and leaves it running. A stage's task
connects with :func:`chunk_runner` (a stage run outside a flow, ``hm batch`` say, starts a
``local:N`` cluster of its own).

Stages whose tasks do not depend on each other (the candidate weeks) run on a Prefect
``DaskTaskRunner`` on that cluster (:func:`on_cluster`, :func:`run_together`): each task runs on
a worker, and a task that maps over customer chunks hands its worker's slot back while it waits
(:func:`flows.own_process.in_own_process`). Workers report their task runs to the run's Prefect
API (:func:`prefect_for_workers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from recsys.parallel import Parallel
from recsys.settings import Settings

T = TypeVar("T")
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
    with quiet_dask(), local_cluster(workers) as address:
        print(f"Dask: a local cluster of {workers} workers at {address}")
        yield settings.model_copy(update={"dask": address})


@contextmanager
def local_cluster(workers: int) -> Iterator[str]:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes for the
    block, their nannies here; its scheduler's address. Its workers are not daemons: a stage
    task placed on one forks its own process (:mod:`flows.own_process`)."""
    import dask
    from distributed import LocalCluster

    with (
        dask.config.set({"distributed.worker.daemon": False}),  # read when a worker (re)starts
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        yield cluster.scheduler_address


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


@contextmanager
def prefect_for_workers(settings: Settings) -> Iterator[None]:
    """With ``HM_DASK``: the block's Prefect API named in its settings, so that the task runs a
    ``DaskTaskRunner`` starts on the workers report to it. Prefect's local mode serves a
    temporary API from this process only: without this, each worker would start its own."""
    if not settings.dask:
        yield
        return
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    url = str(get_client(sync_client=True).api_url).rstrip("/")
    with temporary_settings({PREFECT_API_URL: url}):
        yield


def on_cluster(flow_: Callable[..., T], settings: Settings) -> Callable[..., T]:
    """``flow_`` on a ``DaskTaskRunner`` connected to ``HM_DASK``'s scheduler (what its
    :func:`run_together` submits runs on the workers); ``flow_`` as it is without one."""
    if not settings.dask:
        return flow_
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(address=settings.dask)
    return flow_.with_options(task_runner=runner)  # type: ignore[attr-defined]


def run_together(settings: Settings, calls: list[tuple[Any, tuple]]) -> list[Any]:
    """Each (task, args) call's result, in order: submitted together to the flow's task runner
    with ``HM_DASK`` (the cluster's workers run them side by side), one after the other here
    without (a stage's peak memory, not the sum of several)."""
    if not settings.dask:
        return [task_(*args) for task_, args in calls]
    futures = [task_.submit(*args) for task_, args in calls]
    return [future.result() for future in futures]
