"""Batch recommendations for every customer: the ranker for active ones, best sellers otherwise.

Ranking costs retrieval from every source plus a few hundred feature values per candidate, per
customer. With ``active_weeks`` (12 by default), customers without a purchase in that many weeks
before the cutoff (at H&M about 60% of them) get their age bucket's best sellers from the union's
popularity member instead (:mod:`recsys.ranking.coldstart`): what the union would mostly have
offered them anyway, at a fraction of the cost. ``None`` ranks everyone. The ranked customers'
candidate rows can be kept (a :class:`~recsys.ranking.candidate_store.CandidateStoreWriter`) for
the online server, which ranks the same candidates per request.

What every chunk reads is prepared once (the history grouped by customer, per-article tables,
the snapshot's key indexes and the ranker's store columns as float32 blocks), so a chunk costs
its own customers' rows only: store features go from the blocks straight into the ranker's
matrix, by row index. Chunks run in forked processes or on a Dask cluster's workers
(:class:`~recsys.parallel.Parallel`) and come back in ascending order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import schema
from recsys.data.lake import Lake
from recsys.parallel import Parallel, slices
from recsys.ranking.candidate_store import (
    FEATURES,
    RANKER,
    RANKER_SCORE,
    CandidateStoreWriter,
    package_store,
)
from recsys.ranking.coldstart import COLUMNS, dormant_recommendations
from recsys.ranking.dataset import candidates
from recsys.ranking.features import SnapshotFeatures, StoreBlock
from recsys.ranking.interactions import InteractionTables
from recsys.ranking.package import RecommenderPackage
from recsys.ranking.ranker import Ranker
from recsys.ranking.recommend import fill_with, top_by_score
from recsys.retrieval.history import History
from recsys.schema import FALLBACK, K
from recsys.settings import Settings

FeatureReader = Callable[[pd.DataFrame], pd.DataFrame]  # adds store features to candidate rows


def active_mask(history: History, customers: np.ndarray, weeks: int | None) -> np.ndarray:
    """True for the ``customers`` who bought in the last ``weeks`` weeks (all if ``None``)."""
    if weeks is None:
        return np.ones(len(customers), dtype=bool)
    recent = history.recent(7 * weeks)[schema.CUSTOMER_ID].unique()
    return np.isin(customers, recent)


def rank_customers(
    package: RecommenderPackage,
    customers: np.ndarray,
    history: History,
    features: FeatureReader,
    k: int = K,
    candidates_k: int = 200,
    sink: Callable[[pd.DataFrame], None] | None = None,
    tables: InteractionTables | None = None,
) -> pd.DataFrame:
    """``customer_id, article_id, score, rank, source``: the package's top ``k`` per customer.

    Union candidates, interaction features from ``history`` (``tables``: its prepared tables),
    store features from ``features``, ranker scores, then a top-up from the best sellers for
    short lists. ``sink`` receives the candidate rows without the store features, with the
    ranker's scores (the online server's candidates; see the candidate store).
    """
    customers = np.unique(np.asarray(customers, np.int64))
    rows = candidates(history, package.union, customers, candidates_k, tables)
    frame, blocks = with_features(rows, features, package.ranker)
    scores = package.ranker.score(frame, blocks)
    if sink is not None:  # the rows as retrieved (``frame`` may hold more columns), scored
        sink(frame[list(rows.columns)].assign(**{RANKER_SCORE: scores}))
    ranked = top_by_score(frame, scores, k)
    out = fill_with(ranked, package.popular, customers, k)
    wanted = pair_keys(customers, out)
    at = pd.Index(pair_keys(customers, frame)).get_indexer(wanted)  # -1: not a candidate
    codes = np.append(frame["best_source"].to_numpy(np.float64), np.nan)[at]
    names = np.array([*package.union.source_names, FALLBACK])
    out[schema.SOURCE] = names[np.where(np.isnan(codes), len(names) - 1, codes).astype(int)]
    at = pd.Index(pair_keys(customers, ranked)).get_indexer(wanted)  # -1: a top-up
    score = np.append(ranked[schema.SCORE].to_numpy(np.float32), np.float32(np.nan))[at]
    out.insert(2, schema.SCORE, score)
    return out


def pair_keys(customers: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """An int64 key per row of ``frame``: its customer's position in ``customers`` (sorted,
    holding every one of them) beside its article id's 32 bits."""
    ids = frame[schema.CUSTOMER_ID].to_numpy(np.int64)
    at = np.searchsorted(customers, ids)
    if len(ids) and (customers.take(at, mode="clip") != ids).any():
        raise ValueError("rows of customers that were not asked for")
    articles = frame[schema.ARTICLE_ID].to_numpy(np.int64) & 0xFFFFFFFF
    return (at.astype(np.int64) << 32) | articles


def with_features(
    rows: pd.DataFrame, features: FeatureReader, ranker: Ranker
) -> tuple[pd.DataFrame, list[StoreBlock]]:
    """Candidate ``rows`` for ``ranker.score``: from a :class:`SnapshotFeatures`, the rows and
    its blocks for the ranker's matrix; from any other reader, its frame (and no blocks)."""
    if isinstance(features, SnapshotFeatures):
        return rows, features.blocks(ranker.features, ranker.vocab)
    return features(rows), []


@dataclass(frozen=True)
class _Ranking:
    """What every chunk is ranked with (forked workers inherit it; a cluster gets it once)."""

    package: RecommenderPackage
    history: History
    features: FeatureReader
    tables: InteractionTables
    candidates_k: int
    keep_rows: bool


def _rank_chunk(job: _Ranking, chunk: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One chunk's top 12 and, if kept, its candidate rows."""
    rows: list[pd.DataFrame] = []
    sink = rows.append if job.keep_rows else None
    args = (job.history, job.features, K, job.candidates_k, sink, job.tables)
    return rank_customers(job.package, chunk, *args), (rows[0] if rows else None)


def batch_recommendations(
    package: RecommenderPackage,
    customers: np.ndarray,
    history: History,
    features: FeatureReader,
    options: tuple[int, int, int | None],
    progress: bool = False,
    sink: Callable[[pd.DataFrame], None] | None = None,
    workers: int | Parallel = 1,
) -> pd.DataFrame:
    """Top-12 for every customer; ``options`` = (candidates, chunk size, active weeks).

    ``sink`` receives each chunk's candidate rows (see :func:`rank_customers`), customers
    ascending; ``workers`` processes (or a :class:`Parallel`: a cluster's workers) rank chunks
    side by side (the result does not depend on it).
    """
    from tqdm.auto import tqdm

    candidates_k, size, weeks = options
    customers = np.unique(np.asarray(customers, np.int64))
    active = active_mask(history, customers, weeks)
    parts = (
        [dormant_recommendations(package.union, package.popular, customers[~active])]
        if (~active).any()
        else []
    )
    ranked = customers[active]
    tables = InteractionTables.build(history)
    if isinstance(features, SnapshotFeatures):  # its blocks built once, before any fork
        features.blocks(package.ranker.features, package.ranker.vocab)
    job = _Ranking(package, history, features, tables, candidates_k, sink is not None)
    bar = tqdm(total=len(ranked), desc="ranking customers", disable=not progress, unit="cust")
    where = Parallel(workers) if isinstance(workers, int) else workers
    for recs, rows in where.map(_rank_chunk, job, slices(ranked, size)):
        if sink is not None:
            sink(rows)
        parts.append(recs)
        bar.update(recs[schema.CUSTOMER_ID].nunique())
    bar.close()
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    return out.sort_values([schema.CUSTOMER_ID, schema.RANK], ignore_index=True)


def recommend_everyone(
    settings: Settings,
    lake: Lake,
    package: RecommenderPackage,
    progress: bool = False,
    history: History | None = None,
    parallel: Parallel | None = None,
) -> pd.DataFrame:
    """Top-12 for every customer of the lake, features from the package cutoff's snapshot, as
    many candidates per customer as the package was trained on; chunks ranked by ``parallel``
    (default: ``settings.threads`` forked processes).

    The ranked customers' candidate rows are written to their :func:`package_store` on the way.
    """
    from recsys.features.snapshots import snapshot_version
    from recsys.retrieval.history import load_history

    ids = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).column(schema.CUSTOMER_ID)
    history = history if history is not None else load_history(lake, package.cutoff)
    reader = SnapshotFeatures(settings, package.cutoff)
    candidates_k = int(package.meta.get("candidates", settings.candidates))  # as trained
    options = (candidates_k, settings.batch_customers, settings.active_weeks)
    writer = CandidateStoreWriter(package_store(settings, package.key()))
    recs = batch_recommendations(
        package,
        ids.to_numpy(),
        history,
        reader,
        options,
        progress,
        writer.append,
        parallel or Parallel(settings.threads),
    )
    scored = {
        FEATURES: snapshot_version(settings.paths.features, package.cutoff),
        RANKER: package.ranker.digest(),
    }
    writer.close({"cutoff": package.cutoff, "package": package.key(), **package.meta, **scored})
    return recs
