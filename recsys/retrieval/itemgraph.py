"""Item-item graphs: sparse pruned similarity matrices; customers scored through their seed items.

A customer's seeds are the articles they bought recently (recency-decayed weights) plus any context
articles (a cart, a product page). ``score(customer, j) = sum_i w_i * S[i, j]`` where ``S`` is a
pruned item x item matrix (top ``neighbours`` per row). Subclasses of :class:`ItemGraphRetriever`
only say how ``S`` is built (co-occurrence in baskets, item-based collaborative filtering).
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import schema
from recsys.retrieval.base import NotFittedError, Retriever, empty_candidates, group_rank
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.history import History
from recsys.retrieval.rowtop import row_top
from recsys.retrieval.state import load_arrays, save_arrays

PRODUCT_BUDGET = 8_000_000  # non-zeros of one chunk of H @ S (bounds memory when scoring)
GRAM_BUDGET = 3_000_000  # non-zeros of one row block of X.T @ X before pruning (at full H&M
# scale item-CF peaks 5.2 GiB with 3M, 8.6 GiB with 30M; same matrix, a little faster)


def item_codes(article_ids: np.ndarray, catalogue: np.ndarray) -> np.ndarray:
    """Position of each id in the sorted ``catalogue``, -1 where unknown."""
    article_ids = np.asarray(article_ids, dtype=np.int64)
    if len(catalogue) == 0:
        return np.full(len(article_ids), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(catalogue, article_ids), len(catalogue) - 1)
    return np.where(catalogue[pos] == article_ids, pos, -1)


def incidence(groups: np.ndarray, items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """A binary group x item matrix (``groups`` are codes 0..g-1; repeated pairs count once)."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    ones = np.ones(len(groups), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (groups, items)), shape=(n_groups, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def descending_bits(vals: np.ndarray) -> np.ndarray:
    """uint64 keys whose ascending order is the descending order of the float32 ``vals``."""
    bits = np.ascontiguousarray(vals, dtype=np.float32).view(np.uint32)
    ordered = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31))  # ascending as floats
    return (np.uint32(0xFFFFFFFF) - ordered).astype(np.uint64)


def top_per_row(matrix: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of the ``n`` largest values of each row (ties: smaller column first).

    One stable sort of a single uint64 key (row, descending value) over columns sorted within rows.
    """
    matrix = matrix.tocsr()
    matrix.sum_duplicates()  # also sorts the columns within each row
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.uint64), counts)
    cols, vals = matrix.indices.astype(np.int64), matrix.data.astype(np.float32)
    if counts.max(initial=0) > n:
        order = np.argsort((rows << np.uint64(32)) | descending_bits(vals), kind="stable")
        order = order[group_rank(rows[order]) <= n]
        rows, cols, vals = rows[order], cols[order], vals[order]
    return rows.astype(np.int64), cols, vals


def pruned_gram(
    x: sp.csr_matrix,
    neighbours: int,
    row_scale: np.ndarray,
    col_scale: np.ndarray,
    group_weight: np.ndarray | None = None,
) -> sp.csr_matrix:
    """``S = diag(row_scale) X.T W X diag(col_scale)``, diagonal zeroed, top ``neighbours`` per row.

    Computed in blocks of item rows so the unpruned product never sits in memory at once.
    """
    n_items = x.shape[1]
    xt = (x.T if group_weight is None else (sp.diags(group_weight) @ x).T).tocsr()
    per_item = x.T @ np.diff(x.indptr).astype(np.float64)  # bound on non-zeros per item row
    bounds = chunk_bounds(per_item.astype(np.int64), GRAM_BUDGET)
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        block = (sp.diags(row_scale[lo:hi]) @ (xt[lo:hi] @ x) @ sp.diags(col_scale)).tocoo()
        off = (block.row.astype(np.int64) + lo != block.col) & (block.data > 0)
        parts_in = (block.data[off], (block.row[off], block.col[off]))
        rows, cols, vals = top_per_row(sp.csr_matrix(parts_in, shape=block.shape), neighbours)
        parts.append((rows + lo, cols, vals))
    if not parts:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    rows, cols, vals = (np.concatenate(p) for p in zip(*parts, strict=True))
    return sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n_items, n_items))


def chunk_bounds(costs: np.ndarray, budget: int) -> np.ndarray:
    """Boundaries ``[0, ..., n]`` cutting consecutive rows into chunks of about ``budget`` cost."""
    if len(costs) == 0:
        return np.zeros(1, dtype=np.int64)
    cum = np.cumsum(costs)
    cuts = np.searchsorted(cum, np.arange(budget, cum[-1], budget), side="right")
    return np.unique(np.r_[0, cuts, len(costs)]).astype(np.int64)


def decay(days_ago: np.ndarray, half_life: float) -> np.ndarray:
    """Weight 1 for yesterday, halving every ``half_life`` days (none when ``half_life`` <= 0)."""
    if half_life <= 0:
        return np.ones(len(days_ago), dtype=np.float32)
    return np.power(0.5, (np.asarray(days_ago, np.float32) - 1.0) / half_life).astype(np.float32)


def recent_purchases(
    history: History, catalogue: np.ndarray, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer ids, item codes, days ago) of the last ``days`` days' purchases of known items."""
    recent = history.days_ago <= days
    tx = history.transactions.loc[recent]
    items = item_codes(tx[schema.ARTICLE_ID].to_numpy(), catalogue)
    known = items >= 0
    customers = tx[schema.CUSTOMER_ID].to_numpy(np.int64)[known]
    return customers, items[known], history.days_ago[recent][known].astype(np.int64)


def customer_seeds(
    history: History, catalogue: np.ndarray, days: int, half_life: float, max_seeds: int
) -> tuple[np.ndarray, sp.csr_matrix]:
    """(sorted customer ids, customer x item seed weights) from purchases of the last ``days``.

    A seed's weight sums the decayed weights of its purchases; only the ``max_seeds`` most recently
    bought distinct articles of each customer are kept. Computed once per history and arguments
    (item-CF and co-occurrence share the result; not to be changed in place).
    """
    catalogue_hash = hashlib.sha256(np.ascontiguousarray(catalogue, np.int64).tobytes()).hexdigest()
    key = ("customer_seeds", catalogue_hash, days, float(half_life), max_seeds)
    return history.shared(
        key, lambda: _customer_seeds(history, catalogue, days, half_life, max_seeds)
    )


def _customer_seeds(
    history: History, catalogue: np.ndarray, days: int, half_life: float, max_seeds: int
) -> tuple[np.ndarray, sp.csr_matrix]:
    """:func:`customer_seeds`, computed."""
    customers, items, ago = recent_purchases(history, catalogue, days)
    ids, rows = np.unique(customers, return_inverse=True)
    # one key per (customer, item), purchases ordered most recent first within it
    pair = rows.astype(np.int64) * len(catalogue) + items
    order = np.lexsort((ago, pair))
    pair, ago, weight = pair[order], ago[order], decay(ago[order], half_life)
    first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else order[:0]
    weight = np.add.reduceat(weight, first) if len(first) else weight
    pair, ago = pair[first], ago[first]
    seed_row, seed_item = pair // len(catalogue), pair % len(catalogue)
    by_recency = np.lexsort((seed_item, ago, seed_row))
    keep = by_recency[group_rank(seed_row[by_recency]) <= max_seeds]
    shape = (len(ids), len(catalogue))
    matrix = sp.csr_matrix((weight[keep], (seed_row[keep], seed_item[keep])), shape=shape)
    return ids, matrix


def seed_rows(
    ids: np.ndarray,
    seeds: sp.csr_matrix,
    customers: np.ndarray,
    context: np.ndarray,
    context_weight: float,
) -> sp.csr_matrix:
    """Seed rows of ``customers`` (empty for unknown ones) plus ``context`` items for everyone."""
    n_items = seeds.shape[1]
    if len(ids):
        pos = np.minimum(np.searchsorted(ids, customers), len(ids) - 1)
        known = (ids[pos] == customers).astype(np.float32)
        rows = (sp.diags(known) @ seeds[pos]).tocsr()
        rows.eliminate_zeros()
    else:
        rows = sp.csr_matrix((len(customers), n_items), dtype=np.float32)
    if len(context) == 0 or context_weight <= 0:
        return rows
    ones = sp.csr_matrix(np.ones((len(customers), 1), dtype=np.float32))
    ctx = np.zeros((1, n_items), dtype=np.float32)
    ctx[0, context] = context_weight
    return (rows + ones @ sp.csr_matrix(ctx)).tocsr()


def score_through(
    h: sp.csr_matrix, sim: sp.csr_matrix, k: int, exclude_seeds: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` (row, item, score) of ``H @ S`` per row, in chunks of rows of bounded size."""
    cost = (h.astype(bool).astype(np.float32) @ np.diff(sim.indptr).astype(np.float32)) + 1
    out = []
    bounds = chunk_bounds(cost.astype(np.int64), PRODUCT_BUDGET)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        block = h[lo:hi]
        product = (block @ sim).tocsr()
        if exclude_seeds:
            product = (product - product.multiply(block.astype(bool))).tocsr()
            product.eliminate_zeros()
        rows, cols, vals = row_top(product, k)
        out.append((rows + lo, cols, vals))
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows, cols, vals = (np.concatenate(p) for p in zip(*out, strict=True))
    return rows, cols, vals.astype(np.float32)


@dataclass(frozen=True)
class ItemGraphConfig(RetrieverConfig):
    """Parameters of every item-graph retriever: seeding, pruning and context."""

    neighbours: int = 100  # items kept per row of the item x item matrix
    seed_days: int = 730  # a customer's purchases of these last days are their seeds
    seed_half_life: float = 120.0  # a seed this many days older weighs half as much
    max_seeds: int = 30  # at most this many seeds per customer (the heaviest)
    context_weight: float = 1.0  # seed weight of each context article
    exclude_bought: bool = False  # never propose a customer's own seeds


class ItemGraphRetriever(Retriever, config=ItemGraphConfig):
    """Scores articles through an item x item matrix from each customer's recent seed articles."""

    config: ItemGraphConfig
    nested = True  # the product H @ S does not depend on k; row_top breaks ties by article

    def __init__(self, config: ItemGraphConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self.catalogue = np.zeros(0, np.int64)
        self.sim = sp.csr_matrix((0, 0), dtype=np.float32)
        self.seed_ids = np.zeros(0, np.int64)
        self.seeds = sp.csr_matrix((0, 0), dtype=np.float32)

    @abstractmethod
    def _similarity(self, history: History, catalogue: np.ndarray) -> sp.csr_matrix:
        """The pruned item x item matrix (rows: seed items, columns: candidates)."""

    def _fit(self, history: History) -> None:
        self.catalogue = np.unique(history.articles[schema.ARTICLE_ID].to_numpy(np.int64))
        self.sim = self._similarity(history, self.catalogue)
        cfg = self.config
        self.seed_ids, self.seeds = customer_seeds(
            history, self.catalogue, cfg.seed_days, cfg.seed_half_life, cfg.max_seeds
        )

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        if len(customers) == 0 or len(self.catalogue) == 0:
            return empty_candidates(self.name)
        ctx = item_codes(context, self.catalogue)
        cfg = self.config
        h = seed_rows(self.seed_ids, self.seeds, customers, ctx[ctx >= 0], cfg.context_weight)
        rows, cols, vals = score_through(h, self.sim, k, cfg.exclude_bought)
        return pd.DataFrame(
            {
                schema.CUSTOMER_ID: customers[rows],
                schema.ARTICLE_ID: self.catalogue[cols].astype(np.int32),
                schema.SCORE: vals,
            }
        )

    def related(self, article_ids: np.ndarray | list[int], k: int = 12) -> pd.DataFrame:
        """``article_id, score, rank``: the ``k`` articles most related to ``article_ids`` taken
        together (their rows of the item x item matrix summed; the inputs themselves excluded).
        A cart's "bought together" list; unknown ids contribute nothing."""
        if self.cutoff is None:
            raise NotFittedError(f"retriever {self.name!r} is not fitted")
        codes = item_codes(np.asarray(article_ids, np.int64), self.catalogue)
        rows = self.sim[codes[codes >= 0]]
        cols, inverse = np.unique(rows.indices, return_inverse=True)
        scores = np.bincount(inverse, weights=rows.data, minlength=len(cols)).astype(np.float32)
        keep = ~np.isin(cols, codes)
        cols, scores = cols[keep], scores[keep]
        order = np.lexsort((cols, -scores))[:k]
        return pd.DataFrame(
            {
                schema.ARTICLE_ID: self.catalogue[cols[order]].astype(np.int32),
                schema.SCORE: scores[order],
                schema.RANK: np.arange(1, len(order) + 1, dtype=np.int32),
            }
        )

    def _save_state(self, path: Path) -> None:
        save_arrays(
            path,
            "itemgraph",
            catalogue=self.catalogue,
            seed_ids=self.seed_ids,
            **packed("sim", self.sim),
            **packed("seeds", self.seeds),
        )

    def _load_state(self, path: Path) -> None:
        arrays = load_arrays(path, "itemgraph")
        self.catalogue, self.seed_ids = arrays["catalogue"], arrays["seed_ids"]
        self.sim, self.seeds = unpacked(arrays, "sim"), unpacked(arrays, "seeds")


def packed(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays (for :func:`save_arrays`)."""
    return {
        f"{name}_data": matrix.data,
        f"{name}_indices": matrix.indices,
        f"{name}_indptr": matrix.indptr,
        f"{name}_shape": np.asarray(matrix.shape, np.int64),
    }


def unpacked(arrays: dict[str, np.ndarray], name: str) -> sp.csr_matrix:
    """The CSR matrix written by :func:`packed`."""
    parts = (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"])
    return sp.csr_matrix(parts, shape=tuple(arrays[f"{name}_shape"]))
