"""User-user similarity: what customers with a similar taste bought recently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import schema
from recsys.retrieval.ann import IndexKind, VectorIndex
from recsys.retrieval.base import Retriever, empty_candidates
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.encoders import EncoderKind, l2_normalize
from recsys.retrieval.encoders.memo import encode_remembered
from recsys.retrieval.history import History
from recsys.retrieval.itemgraph import (
    decay,
    item_codes,
    packed,
    recent_purchases,
    score_through,
    unpacked,
)
from recsys.retrieval.state import load_arrays, save_arrays

QUERY_BATCH = 50_000  # customers searched at once (bounds the neighbour arrays' memory)


def weighted_purchases(
    history: History, catalogue: np.ndarray, days: int, half_life: float
) -> tuple[np.ndarray, sp.csr_matrix]:
    """(sorted customer ids, customer x item matrix of decayed purchase weights, last ``days``)."""
    customers, items, ago = recent_purchases(history, catalogue, days)
    ids, rows = np.unique(customers, return_inverse=True)
    weights = decay(ago, half_life)
    matrix = sp.csr_matrix((weights, (rows, items)), shape=(len(ids), len(catalogue)))
    matrix.sum_duplicates()
    return ids, matrix


def lookup(ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of ``wanted`` in sorted ``ids``, found mask); positions of misses are 0."""
    if len(ids) == 0:
        return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), bool)
    pos = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    found = ids[pos] == wanted
    return np.where(found, pos, 0), found


def neighbour_matrix(
    asked_pos: np.ndarray, found: np.ndarray, sims: np.ndarray, pool_size: int, n: int
) -> sp.csr_matrix:
    """Asked customers x pool: similarities to each one's ``n`` nearest other customers.

    ``found`` holds pool positions (-1: none), ``asked_pos`` each asked customer's own pool
    position (-1 if not in the pool), so a customer never votes for themselves.
    """
    valid = (found >= 0) & (found != asked_pos[:, None]) & (sims > 0)
    valid &= np.cumsum(valid, axis=1) <= n
    rows = np.broadcast_to(np.arange(len(asked_pos))[:, None], valid.shape)[valid]
    shape = (len(asked_pos), pool_size)
    return sp.csr_matrix((sims[valid].astype(np.float32), (rows, found[valid])), shape=shape)


@dataclass(frozen=True)
class UserUserConfig(RetrieverConfig):
    """Parameters of :class:`UserUserRetriever`."""

    encoder: EncoderKind = "metadata"  # article vectors that customer vectors average
    days: int = 730  # a customer's vector averages their purchases of these last days
    half_life: float = 30.0  # ... a purchase this many days older weighing half as much
    n_neighbours: int = 300  # nearest customers that vote
    recent_days: int = 14  # a neighbour votes for what they bought in these last days
    recent_half_life: float = 7.0  # ... a purchase this many days older voting half as much
    sim_power: float = 8.0  # a vote is similarity ** sim_power x recency decay
    index_kind: IndexKind = "exact"  # FAISS index over the voting customers
    context_weight: float = 1.0  # weight of the context's mean vector in the query
    seed: int = 42  # random seed of the index


class UserUserRetriever(Retriever, kind="useruser", config=UserUserConfig):
    """Customers embedded as the recency-weighted mean of their articles' vectors; a customer's
    ``n_neighbours`` nearest customers (FAISS) vote for what they bought in ``recent_days``
    (vote = similarity ** ``sim_power`` x recency decay). Unknown customers get rows only when
    given a context, whose articles' mean vector then stands for the customer (and is blended in
    for known ones). Queries run in batches of ``QUERY_BATCH`` customers.
    """

    fit_weight = 2  # 42 s at full H&M scale

    config: UserUserConfig
    nested = True  # neighbours searched at n_neighbours, not k; row_top breaks ties by article

    def __init__(self, config: UserUserConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self.catalogue = np.zeros(0, np.int64)
        self.article_vecs = np.zeros((0, 0), np.float32)
        self.customer_ids = np.zeros(0, np.int64)
        self.customer_vecs = np.zeros((0, 0), np.float32)
        self.pool = np.zeros(0, np.int64)
        self.bought = sp.csr_matrix((0, 0), dtype=np.float32)
        self.index: VectorIndex | None = None

    def _fit(self, history: History) -> None:
        cfg = self.config
        articles = history.articles.sort_values(schema.ARTICLE_ID, ignore_index=True)
        self.catalogue = articles[schema.ARTICLE_ID].to_numpy(np.int64)
        self.article_vecs = encode_remembered(articles, cfg.encoder).astype(np.float32)
        self.customer_ids, taste = weighted_purchases(
            history, self.catalogue, cfg.days, cfg.half_life
        )
        self.customer_vecs = l2_normalize(taste @ self.article_vecs)
        self.pool, self.bought = weighted_purchases(
            history, self.catalogue, cfg.recent_days, cfg.recent_half_life
        )
        pos, found = lookup(self.customer_ids, self.pool)  # all found unless days < recent_days
        self.pool, self.bought, pos = self.pool[found], self.bought[found], pos[found]
        self.index = None
        if len(self.pool):
            self.index = VectorIndex(kind=cfg.index_kind).build(
                self.pool, self.customer_vecs[pos], seed=cfg.seed
            )

    def _queries(self, customers: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(customers that get a query vector, their vectors), context blended in when given."""
        pos, known = lookup(self.customer_ids, customers)
        vecs = (
            self.customer_vecs[pos]
            if len(self.customer_ids)
            else np.zeros((len(pos), self.article_vecs.shape[1]), np.float32)
        )
        codes = item_codes(context, self.catalogue)
        codes = codes[codes >= 0]
        weight = self.config.context_weight
        if len(codes) == 0 or weight <= 0:
            return customers[known], vecs[known]
        ctx = l2_normalize(self.article_vecs[codes].mean(axis=0, keepdims=True))
        vecs = np.where(known[:, None], vecs, 0.0) + weight * ctx
        return customers, l2_normalize(vecs)

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        asked, vecs = self._queries(customers, context)
        if len(asked) == 0 or self.index is None or len(self.pool) == 0:
            return empty_candidates(self.name)
        parts = [
            self._vote(asked[lo : lo + QUERY_BATCH], vecs[lo : lo + QUERY_BATCH], k)
            for lo in range(0, len(asked), QUERY_BATCH)
        ]
        return pd.concat(parts, ignore_index=True)

    def _vote(self, asked: np.ndarray, vecs: np.ndarray, k: int) -> pd.DataFrame:
        """Candidates of one batch of query customers: their neighbours' weighted purchases."""
        assert self.index is not None
        cfg = self.config
        found, sims = self.index.search_positions(vecs, cfg.n_neighbours + 1)
        if not np.array_equal(self.index.ids, self.pool):  # as fitted, the index is the pool
            rows, known = lookup(self.pool, self.index.ids)
            found = np.where(found >= 0, np.where(known, rows, -1)[found], -1)
        # unchanged behaviour: neighbours with a negative customer id are skipped (the id-based
        # version read every negative id as the "no neighbour" mark -1)
        found = np.where((found >= 0) & (self.pool[np.maximum(found, 0)] >= 0), found, -1)
        pos, in_pool = lookup(self.pool, asked)
        own = np.where(in_pool, pos, -1)
        votes = neighbour_matrix(own, found, sims, len(self.pool), cfg.n_neighbours)
        votes.data **= cfg.sim_power
        rows, cols, vals = score_through(votes, self.bought, k, exclude_seeds=False)
        return pd.DataFrame(
            {
                schema.CUSTOMER_ID: asked[rows],
                schema.ARTICLE_ID: self.catalogue[cols].astype(np.int32),
                schema.SCORE: vals,
            }
        )

    def _save_state(self, path: Path) -> None:
        if self.index is not None:
            self.index.save(path, "customers")
        save_arrays(
            path,
            "useruser",
            catalogue=self.catalogue,
            article_vecs=self.article_vecs,
            customer_ids=self.customer_ids,
            customer_vecs=self.customer_vecs,
            pool=self.pool,
            **packed("bought", self.bought),
        )

    def _load_state(self, path: Path) -> None:
        arrays = load_arrays(path, "useruser")
        self.catalogue, self.article_vecs = arrays["catalogue"], arrays["article_vecs"]
        self.customer_ids, self.customer_vecs = arrays["customer_ids"], arrays["customer_vecs"]
        self.pool, self.bought = arrays["pool"], unpacked(arrays, "bought")
        self.index = None
        if (Path(path) / "customers.faiss").exists():
            self.index = VectorIndex.load(path, "customers", kind=self.config.index_kind)
