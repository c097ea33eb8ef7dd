"""Recall of each source and of their union on a held-out week, with fit and retrieve times."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import schema
from recsys.evaluation.recall import DEFAULT_KS, recall_table
from recsys.parallel import Parallel
from recsys.retrieval.base import Retriever
from recsys.retrieval.history import History
from recsys.retrieval.member_fits import fit_members
from recsys.retrieval.sources import SourceSpec
from recsys.retrieval.union import UnionRetriever


@dataclass
class RetrievalEvaluation:
    """The recall table (a row per source plus ``union``) and the fitted union."""

    table: pd.DataFrame
    union: UnionRetriever
    buyers: int
    ks: tuple[int, ...]

    def best_single(self, k: int) -> tuple[str, float]:
        """The single source with the highest recall@k, and that recall."""
        singles = self.table.drop(index="union")[f"recall@{k}"]
        return str(singles.idxmax()), float(singles.max())


def fit_union(
    history: History,
    specs: Sequence[SourceSpec],
    progress: bool = False,
    workers: int | Parallel = 1,
) -> tuple[UnionRetriever, dict[str, float]]:
    """Fit every member once (timed; ``workers`` processes side by side); the union is
    assembled from the fitted members."""
    union = UnionRetriever(sources=[s.as_dict() for s in specs])
    with _fit_progress(len(specs), progress) as done:
        fitted = fit_members(history, specs, workers, done)
    union.members = {name: member for name, (member, _) in fitted.items()}
    union.cutoff = history.cutoff
    return union, {name: seconds for name, (_, seconds) in fitted.items()}


@contextmanager
def _fit_progress(total: int, enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """A callback that advances a rich progress bar of ``total`` fits (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("fitting sources", total=total)
        yield lambda name: bar.update(task, advance=1, description=f"fitted {name}")


def evaluate_retrieval(
    history: History,
    truth: pd.DataFrame,
    specs: Sequence[SourceSpec],
    ks: Sequence[int] = DEFAULT_KS,
    union_k: int = 200,
    progress: bool = False,
) -> RetrievalEvaluation:
    """Fit each source on ``history``, retrieve max(ks) per buyer of ``truth``, tabulate recall.

    Each source is judged alone at every k (its quota does not apply), the union with its quotas
    at ``union_k`` candidates. ``fit_s`` and ``retrieve_s`` columns hold the wall times.
    """
    union, fit_s = fit_union(history, specs, progress)
    buyers = np.unique(truth[schema.CUSTOMER_ID].to_numpy(np.int64))
    frames, retrieve_s = {}, {}
    for name, member in _progress(list(union.members.items()), "retrieving", progress):
        frames[name], retrieve_s[name] = _timed_retrieve(member, buyers, max(ks))
    frames["union"], retrieve_s["union"] = _timed_retrieve(union, buyers, union_k)
    fit_s["union"] = sum(fit_s.values())
    table = recall_table(frames, truth, ks)
    table["fit_s"] = pd.Series(fit_s)
    table["retrieve_s"] = pd.Series(retrieve_s)
    return RetrievalEvaluation(table=table, union=union, buyers=len(buyers), ks=tuple(ks))


def _timed_retrieve(
    retriever: Retriever, customers: np.ndarray, k: int
) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    frame = retriever.retrieve(customers, k)
    return frame, time.perf_counter() - start


def _progress(items: Sequence, label: str, enabled: bool):
    """``items`` wrapped in a rich progress bar when ``enabled``."""
    if not enabled:
        return items
    from rich.progress import track

    return track(items, description=label, transient=True)
