"""Candidate weeks: the union's candidates for a week's customers, labelled and featurised.

For a cutoff T, the sources are fitted on everything before T, candidates are retrieved for the
customers to rank (by default the week's buyers), labelled 1 if bought in [T, T+7), and given the
interaction features of the history before T. Store features come from
:mod:`recsys.ranking.features`: joined to a training week's sampled rows, or, for a week kept
whole (validation), placed from the cutoff's snapshot when it is scored (``store``). Nothing
here reads a row dated T or later except the labels.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys import schema
from recsys.data.lake import Lake
from recsys.parallel import Parallel, cluster_or, slices
from recsys.ranking.interactions import InteractionTables, interaction_features
from recsys.ranking.member_lists import MemberLists, load_lists, save_lists
from recsys.ranking.sampling import LABEL
from recsys.retrieval.fit_cache import fit_or_load_union
from recsys.retrieval.history import History, load_history, target_week
from recsys.retrieval.sources import SourceSpec
from recsys.retrieval.union import UnionRetriever
from recsys.schema import CUTOFF

if TYPE_CHECKING:
    from recsys.ranking.features import SnapshotFeatures
    from recsys.ranking.ranker import Ranker


@dataclass
class CandidateWeek:
    """One week's candidates (``frame``), its purchases (``truth``) and the fitted union;
    ``sources``: each member's own list for the same customers, where they were kept;
    ``store``: the cutoff's snapshot features, when ``frame`` does not hold them."""

    cutoff: dt.date
    frame: pd.DataFrame
    truth: pd.DataFrame
    union: UnionRetriever
    history: History
    sources: MemberLists | None = None
    store: SnapshotFeatures | None = None

    def score(self, ranker: Ranker) -> np.ndarray:
        """``ranker``'s score of every row of ``frame``, store features placed from ``store``."""
        blocks = self.store.blocks(ranker.features, ranker.vocab) if self.store else ()
        return ranker.score(self.frame, blocks)


def label(frame: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """1 where the pair was bought in the target week, else 0 (int8)."""
    keys = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    bought = truth[keys].drop_duplicates().assign(_hit=1)
    hits = frame[keys].merge(bought, on=keys, how="left")["_hit"]
    return hits.fillna(0).to_numpy(np.int8)


def candidates(
    history: History,
    union: UnionRetriever,
    customers: np.ndarray,
    k: int,
    tables: InteractionTables | None = None,
) -> pd.DataFrame:
    """The union's top ``k`` per customer with interaction features and the ``cutoff`` column.

    ``tables``: the history's prepared :class:`InteractionTables`, when called chunk by chunk.
    """
    return with_interactions(history, union.retrieve(customers, k), tables)


def with_interactions(
    history: History, frame: pd.DataFrame, tables: InteractionTables | None = None
) -> pd.DataFrame:
    """The union's candidates ``frame`` with interaction features and the ``cutoff`` column."""
    frame = frame.drop(columns=[schema.SOURCE]).reset_index(drop=True)
    inter = interaction_features(history, frame, tables)
    frame = pd.concat([frame, inter], axis=1)
    frame["best_source"] = frame["best_source"].cat.codes.astype(np.float32)
    frame[CUTOFF] = pd.Timestamp(history.cutoff)
    return frame


def candidate_week(
    lake: Lake,
    cutoff: dt.date,
    specs: Sequence[SourceSpec],
    k: int,
    customers: np.ndarray | None = None,
    progress: bool = False,
    fit_store: Path | None = None,
    keep: int | None = None,
    workers: int = 1,
    chunks: tuple[Parallel, int] | None = None,
) -> CandidateWeek:
    """Fit the sources before ``cutoff`` and build the week's labelled candidates.

    ``customers`` defaults to the buyers of the week (training and validation); pass every
    customer to score a week whose purchases are unknown (then every label is 0). With
    ``fit_store`` a union fitted on the same history before is loaded from there instead.
    ``keep``: also keep each member's own top ``keep`` for those customers (``sources``).
    ``workers``: processes that fit the union's members side by side. ``chunks`` = (where,
    size): retrieve and featurise customer chunks of ``size`` there (a Dask cluster, say), in
    order; the frame is the same wherever the chunks ran. On a cluster, the members are
    fitted there too, a task each.
    """
    history = load_history(lake, cutoff)
    truth = target_week(lake, cutoff)
    union, _ = fit_or_load_union(history, specs, fit_store, progress, cluster_or(chunks, workers))
    asked = truth[schema.CUSTOMER_ID].unique() if customers is None else customers
    asked = np.unique(np.asarray(asked, dtype=np.int64))
    where, size = chunks or (Parallel(1), max(1, len(asked)))
    tables = InteractionTables.build(history, by_customer=len(asked) > size)  # many chunks
    job = _WeekChunks(history, union, tables, k, keep)
    parts = list(where.map(_week_chunk, job, list(slices(asked, size)) or [asked]))
    frame = _concat([f for f, _ in parts])
    lists = None if keep is None else MemberLists(_member_lists(parts, union), keep)
    frame[LABEL] = label(frame, truth)
    return CandidateWeek(cutoff, frame, truth, union, history, lists)


@dataclass(frozen=True)
class _WeekChunks:
    """What every customer chunk of a week is retrieved and featurised with."""

    history: History
    union: UnionRetriever
    tables: InteractionTables
    k: int
    keep: int | None


def _week_chunk(
    job: _WeekChunks, chunk: np.ndarray
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame] | None]:
    """One chunk's candidates with interaction features (and, with ``keep``, member lists)."""
    if job.keep is None:
        return candidates(job.history, job.union, chunk, job.k, job.tables), None
    found, own = job.union.retrieve_with_lists(chunk, job.k, job.keep)
    return with_interactions(job.history, found, job.tables), own


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Consecutive chunks' frames as one (index 0..n-1)."""
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _member_lists(
    parts: list[tuple[pd.DataFrame, dict[str, pd.DataFrame] | None]], union: UnionRetriever
) -> dict[str, pd.DataFrame]:
    """Each member's lists of consecutive chunks as one frame per member."""
    owns = [own for _, own in parts if own is not None]
    return {n: _concat([own[n] for own in owns]) for n in union.source_names}


def union_columns(source_names: Sequence[str]) -> list[str]:
    """The union's feature columns: fused score and rank, per-source scores/ranks, agreement."""
    per_source = [f"{n}_{c}" for n in source_names for c in (schema.SCORE, schema.RANK)]
    return [schema.SCORE, schema.RANK, *per_source, "n_sources", "best_source"]


def saved_source_names(path: Path) -> list[str]:
    """The member names of the union saved under ``path``, without loading what it fitted."""
    from recsys.retrieval.base import META_FILE

    meta = json.loads((Path(path) / META_FILE).read_text())
    return UnionRetriever(**meta["params"]).source_names


def save_week(week: CandidateWeek, path: Path) -> Path:
    """``frame.parquet``, ``truth.parquet``, the fitted ``union/`` and, where kept, the members'
    own lists (``sources.parquet``) under ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    week.frame.to_parquet(path / "frame.parquet", index=False)
    week.truth.to_parquet(path / "truth.parquet", index=False)
    week.union.save(path / "union")
    if week.sources is not None:
        save_lists(week.sources, path)
    return path


def load_week(
    lake: Lake,
    cutoff: dt.date,
    path: Path,
    history_weeks: int | None = None,
    store: SnapshotFeatures | None = None,
) -> CandidateWeek:
    """A week written by :func:`save_week`, its history reloaded from the lake (only the last
    ``history_weeks`` weeks when given: all that evaluating the week reads); ``store``: the
    cutoff's snapshot, for a week saved without store features."""
    from recsys.retrieval.registry import load_retriever

    return CandidateWeek(
        cutoff=cutoff,
        frame=pd.read_parquet(path / "frame.parquet"),
        truth=pd.read_parquet(path / "truth.parquet"),
        union=load_retriever(path / "union"),  # type: ignore[arg-type]
        history=load_history(lake, cutoff, history_weeks),
        sources=load_lists(path),
        store=store,
    )
