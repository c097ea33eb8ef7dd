"""A union's members fitted side by side: one group here, the others in forked processes.

Members are independent, so a fit's result does not depend on where it ran. The members are
dealt into ``workers`` groups, heaviest first (:attr:`Retriever.fit_weight`), each to the
lightest group so far. This process fits the group with the most members (of equal ones, the
lightest); forked workers, sharing the history's pages copy-on-write, fit the others and save
them to a temporary folder, from which they are loaded here. Every process runs single-threaded,
so ``workers`` processes use ``workers`` cores. At full H&M scale the two-tower alone outweighs
all other members together: the union's fit then takes as long as the two-tower's instead of the
sum of all of them.

On a Dask cluster (``workers`` a :class:`~recsys.parallel.Parallel` with a client) each member
is a task: the history is scattered to the workers once, each fits one member single-threaded
and hands it back, in the specs' order.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from threadpoolctl import threadpool_limits

from recsys.forked import forked_pool
from recsys.parallel import Parallel
from recsys.retrieval.base import Retriever
from recsys.retrieval.history import History
from recsys.retrieval.registry import load_retriever, retriever_class
from recsys.retrieval.sources import SourceSpec

Fitted = dict[str, tuple[Retriever, float]]  # member name -> (fitted member, fit seconds)


def fit_groups(specs: Sequence[SourceSpec], workers: int) -> list[list[SourceSpec]]:
    """``specs`` dealt into at most ``workers`` non-empty groups of similar total weight
    (longest first, each to the lightest group); each group keeps the specs' order."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(workers, len(specs))))]
    load = [0.0] * len(groups)
    weights = [weight(spec) for spec in specs]
    for i in sorted(range(len(specs)), key=lambda i: -weights[i]):
        g = min(range(len(groups)), key=load.__getitem__)
        groups[g].append(i)
        load[g] += weights[i]
    return [[specs[i] for i in sorted(group)] for group in groups if group]


def weight(spec: SourceSpec) -> float:
    """The relative cost of fitting ``spec``'s kind."""
    return float(retriever_class(spec.kind).fit_weight)


def fit_members(
    history: History,
    specs: Sequence[SourceSpec],
    workers: int | Parallel = 1,
    done: Callable[[str], None] | None = None,
) -> Fitted:
    """Every member of ``specs`` fitted on ``history`` with its fit seconds, by name; ``done``
    is called with each member's name as it is ready. ``workers``: processes here, or a
    :class:`Parallel` (on a cluster: a task per member)."""
    if isinstance(workers, Parallel):
        if workers.client is not None:
            return fit_on_cluster(workers, history, specs, done)
        workers = workers.workers
    groups = fit_groups(specs, workers)
    if len(groups) == 1:
        return fit_here(history, groups[0], done)
    here = max(groups, key=lambda group: (len(group), -sum(map(weight, group))))
    away = [group for group in groups if group is not here]
    fitted: Fitted = {}
    with tempfile.TemporaryDirectory(prefix="member-fits-") as tmp:
        job = partial(fit_and_save, history, Path(tmp))
        with forked_pool(job, len(away)) as submit:
            futures = [submit(group) for group in away]
            with threadpool_limits(1):
                fitted.update(fit_here(history, here, done))
            for future in futures:
                for name, seconds in future.result():
                    fitted[name] = (load_retriever(Path(tmp) / name), seconds)
                    if done is not None:
                        done(name)
    return {spec.name: fitted[spec.name] for spec in specs}


def fit_here(
    history: History, specs: Sequence[SourceSpec], done: Callable[[str], None] | None = None
) -> Fitted:
    """Each member fitted in this process, in turn, timed."""
    fitted: Fitted = {}
    for spec in specs:
        start = time.perf_counter()
        fitted[spec.name] = (spec.build().fit(history), time.perf_counter() - start)
        if done is not None:
            done(spec.name)
    return fitted


def fit_and_save(history: History, folder: Path, specs: list[SourceSpec]) -> list[tuple]:
    """(In a worker) each member fitted and saved under ``folder/<name>``; (name, seconds)."""
    saved = []
    for name, (member, seconds) in fit_here(history, specs).items():
        member.save(folder / name)
        saved.append((name, seconds))
    return saved


def fit_on_cluster(
    where: Parallel,
    history: History,
    specs: Sequence[SourceSpec],
    done: Callable[[str], None] | None = None,
) -> Fitted:
    """Each member fitted by a task of its own on ``where``'s cluster, in ``specs`` order."""
    fitted: Fitted = {}
    for spec, (member, seconds) in zip(specs, where.map(fit_alone, history, specs), strict=True):
        fitted[spec.name] = (member, seconds)
        if done is not None:
            done(spec.name)
    return fitted


def fit_alone(history: History, spec: SourceSpec) -> tuple[Retriever, float]:
    """(On a worker) one member fitted single-threaded, as a forked worker fits it."""
    import sys

    with threadpool_limits(1):
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
        return fit_here(history, [spec])[spec.name]
