"""Content-based candidates: articles whose embeddings are close to what a customer bought/views.

Every article gets a vector (``encoder``: catalogue metadata, pretrained text, or the small
transformer trained from scratch) and the articles sold in the last ``active_days`` days go into a
FAISS index (``index``: exact, IVF or HNSW). A customer's seeds are their purchases of the last
``days`` days, weighted by recency (half-life ``half_life`` days, at most ``max_seeds``), plus the
context articles (a product page). A candidate scores the weighted sum of its cosine similarity to
each seed whose neighbour list it is in (``mode="seeds"``), or its similarity to the customer's
weighted mean vector (``mode="mean"``). :meth:`ContentRetriever.similar` answers "similar items".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.ann import IndexKind, VectorIndex
from recsys.retrieval.base import NotFittedError, Retriever, is_sorted, top_k
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.encoders import EncoderKind, l2_normalize
from recsys.retrieval.encoders.memo import encode_remembered
from recsys.retrieval.groupsum import group_sums
from recsys.retrieval.history import History
from recsys.retrieval.repurchase import rows_of
from recsys.retrieval.state import load_arrays, load_frame, save_arrays, save_frame

CHUNK_PAIRS = 4_000_000  # (customer, seed, neighbour) rows scored at a time


def seed_weights(history: History, days: int, half_life: float, max_seeds: int) -> pd.DataFrame:
    """``customer_id, article_id, weight``: recent purchases, recency weighted, summing to 1."""
    recent = history.days_ago <= days
    tx = history.transactions.loc[recent, [schema.CUSTOMER_ID, schema.ARTICLE_ID]]
    w = np.power(0.5, (history.days_ago[recent] - 1) / max(half_life, 1e-9)).astype(np.float32)
    frame = (
        tx.assign(weight=w)
        .groupby([schema.CUSTOMER_ID, schema.ARTICLE_ID], sort=True)["weight"]
        .sum()
        .reset_index()
    )
    frame = frame.sort_values(
        [schema.CUSTOMER_ID, "weight", schema.ARTICLE_ID],
        ascending=[True, False, True],
        kind="stable",
    )
    frame = frame[frame.groupby(schema.CUSTOMER_ID).cumcount() < max_seeds]
    frame["weight"] /= frame.groupby(schema.CUSTOMER_ID)["weight"].transform("sum")
    return frame.reset_index(drop=True).astype({"weight": np.float32})


@dataclass(frozen=True)
class ContentConfig(RetrieverConfig):
    """Parameters of :class:`ContentRetriever`."""

    encoder: EncoderKind = "metadata"  # article vectors: metadata, pretrained text or scratch
    index: IndexKind = "exact"  # FAISS index over the active articles
    days: int = 365  # a customer's purchases of these last days are their seeds
    half_life: float = 30.0  # a seed this many days older weighs half as much
    max_seeds: int = 10  # at most this many seeds per customer (the heaviest)
    neighbours: int = 50  # nearest neighbours taken per seed (mode="seeds")
    mode: Literal["seeds", "mean"] = "seeds"  # score per seed, or against the mean seed vector
    context_weight: float = 1.0  # seed weight of each context article
    active_days: int = 7  # index the articles sold in these last days (<= 0: all)
    exclude_seeds: bool = False  # never propose a customer's own seeds
    cache_dir: str | None = None  # where the text encoder caches its vectors
    encoder_params: dict[str, Any] = field(default_factory=dict)  # extra encoder arguments
    nprobe: int = 16  # IVF cells scanned per search
    seed: int = 42  # random seed of the encoder and the index


class ContentRetriever(Retriever, kind="content", config=ContentConfig):
    """Nearest neighbours, in article embedding space, of a customer's recent buys and context."""

    fit_weight = 3  # 68 s at full H&M scale

    config: ContentConfig

    def __init__(self, config: ContentConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self.article_ids = np.zeros(0, np.int32)
        self.vectors = np.zeros((0, 1), np.float32)
        self.seeds = pd.DataFrame()
        self.index: VectorIndex | None = None

    # -- fit ---------------------------------------------------------------------------------------
    def encode(self, articles: pd.DataFrame) -> np.ndarray:
        """Unit vectors of ``articles`` with this retriever's encoder (read-only; a catalogue
        already encoded the same way in this process is not encoded again)."""
        cfg = self.config
        params = dict(cfg.encoder_params)
        if cfg.encoder == "text":
            params.setdefault("cache_dir", cfg.cache_dir)
        else:
            params.setdefault("seed", cfg.seed)
        return encode_remembered(articles, cfg.encoder, **params)

    def _active(self, history: History) -> np.ndarray:
        """Positions of the articles that go into the index (sold lately, else all)."""
        if self.config.active_days <= 0:
            return np.arange(len(self.article_ids))
        sold = history.recent(self.config.active_days)[schema.ARTICLE_ID].unique()
        active = np.flatnonzero(np.isin(self.article_ids, sold))
        return active if len(active) else np.arange(len(self.article_ids))

    def _fit(self, history: History) -> None:
        articles = history.articles.sort_values(schema.ARTICLE_ID, ignore_index=True)
        self.article_ids = articles[schema.ARTICLE_ID].to_numpy(np.int32)
        self.vectors = self.encode(articles)
        active, cfg = self._active(history), self.config
        self.index = VectorIndex(cfg.index, nprobe=cfg.nprobe).build(
            self.article_ids[active], self.vectors[active], seed=cfg.seed
        )
        self.seeds = seed_weights(history, cfg.days, cfg.half_life, cfg.max_seeds)

    # -- retrieve ----------------------------------------------------------------------------------
    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(known mask, row positions in ``self.vectors``) of article ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.article_ids, ids), 0, max(len(self.article_ids) - 1, 0))
        known = (
            (self.article_ids[pos] == ids) if len(self.article_ids) else np.zeros(len(ids), bool)
        )
        return known, pos

    def _seed_pairs(self, customers: np.ndarray, context: np.ndarray) -> pd.DataFrame:
        """``customer_id, article_id, weight``: the asked customers' seeds plus the context."""
        seeds = self.seeds.iloc[self._seed_rows(customers)]
        known, _ = self._positions(context)
        ctx = np.asarray(context, np.int32)[known]
        if len(ctx) == 0 or len(customers) == 0:
            return seeds
        extra = pd.DataFrame(
            {
                schema.CUSTOMER_ID: np.repeat(customers, len(ctx)),
                schema.ARTICLE_ID: np.tile(ctx, len(customers)),
                "weight": np.float32(self.config.context_weight),
            }
        )
        both = pd.concat([seeds, extra], ignore_index=True)
        return (
            both.groupby([schema.CUSTOMER_ID, schema.ARTICLE_ID], sort=True)["weight"]
            .sum()
            .reset_index()
        )

    def _seed_rows(self, customers: np.ndarray) -> np.ndarray:
        """Positions, in table order, of the seed rows of ``customers`` (a binary search per
        customer in the customer-sorted seed table, not a scan of it)."""
        if len(self.seeds) == 0:
            return np.zeros(0, np.int64)
        owners = self._cached("seed_owners", self.seeds, self._seed_owners)
        if owners is None:  # not sorted by customer (never, as fitted): scan
            return np.flatnonzero(self.seeds[schema.CUSTOMER_ID].isin(customers).to_numpy())
        return np.sort(rows_of(owners, np.asarray(customers, np.int64)))

    def _seed_owners(self) -> np.ndarray | None:
        """The seed table's customer column if sorted, else None."""
        owners = self.seeds[schema.CUSTOMER_ID].to_numpy(np.int64)
        return owners if is_sorted(owners) else None

    def _neighbours(self, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``depth`` nearest indexed articles (ids, scores) of every catalogue article, row
        for row with ``self.vectors``: searched once per depth, then shared by every call."""

        def search() -> tuple[np.ndarray, np.ndarray]:
            ids, scores = self.index.search(self.vectors, depth)
            return ids.astype(np.int32), scores

        return self._cached(f"neighbours@{depth}", self.index, search)

    def _cached(self, name: str, source: object, build):
        """``build()`` memoised while ``source`` (the object it derives from) is unchanged."""
        cache = self.__dict__.setdefault("_derived", {})
        hit = cache.get(name)
        if hit is None or hit[0] is not source:
            hit = cache[name] = (source, build())
        return hit[1]

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        pairs = self._seed_pairs(customers, context)
        if pairs.empty or k <= 0:
            return top_k(np.zeros(0), np.zeros(0), np.zeros(0), k)
        mean = self.config.mode == "mean"
        frame = self._score_mean(pairs, k) if mean else self._score_seeds(pairs, k)
        if self.config.exclude_seeds:
            frame = frame.merge(
                pairs[[schema.CUSTOMER_ID, schema.ARTICLE_ID]], how="left", indicator=True
            )
            frame = frame[frame.pop("_merge") == "left_only"]
        return top_k(
            frame[schema.CUSTOMER_ID].to_numpy(),
            frame[schema.ARTICLE_ID].to_numpy(),
            frame[schema.SCORE].to_numpy(),
            k,
        )

    def _score_seeds(self, pairs: pd.DataFrame, k: int) -> pd.DataFrame:
        """Sum over seeds of weight x similarity, each seed contributing its nearest neighbours.

        A customer with ``s`` seeds takes ``max(neighbours, k / s)`` neighbours of each seed, so
        one-seed customers still get ``k`` candidates.
        """
        cfg = self.config
        extra = int(cfg.exclude_seeds) * cfg.max_seeds
        nb_ids, nb_scores = self._neighbours(max(cfg.neighbours, k) + extra)
        _, seed_row = self._positions(pairs[schema.ARTICLE_ID].to_numpy())
        cust = pairs[schema.CUSTOMER_ID].to_numpy(np.int64)  # sorted: pairs come grouped
        first = np.r_[True, cust[1:] != cust[:-1]]
        n_seeds = np.diff(np.r_[np.flatnonzero(first), len(cust)])[np.cumsum(first) - 1]
        take = np.minimum(np.maximum(cfg.neighbours, -(-k // n_seeds)) + extra, nb_ids.shape[1])
        weight = pairs["weight"].to_numpy(np.float32)
        chunk = (np.cumsum(take) - take)[first][np.cumsum(first) - 1] // CHUNK_PAIRS
        frames = []
        edges = np.r_[np.flatnonzero(np.r_[True, chunk[1:] != chunk[:-1]]), len(chunk)]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            c, a, score = self._expand(
                cust[lo:hi], seed_row[lo:hi], weight[lo:hi], take[lo:hi], nb_ids, nb_scores
            )
            keys, sums = group_sums((np.searchsorted(cust[lo:hi], c) << 32) | a, score)
            pos, art = keys >> 32, (keys & 0xFFFFFFFF).astype(np.int32)
            frames.append(top_k(cust[lo:hi][pos], art, sums, k + extra))
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _expand(cust, seed_row, weight, take, nb_ids, nb_scores):
        """(customer, article, score) per neighbour of each seed pair: ``take`` per pair."""
        pair = np.repeat(np.arange(len(cust)), take)
        col = np.arange(len(pair)) - np.repeat(np.cumsum(take) - take, take)
        ids = nb_ids[seed_row[pair], col]
        score = weight[pair] * nb_scores[seed_row[pair], col]
        ok = ids >= 0
        return cust[pair][ok], ids[ok].astype(np.int64), score[ok]

    def _score_mean(self, pairs: pd.DataFrame, k: int) -> pd.DataFrame:
        """Similarity of each candidate to the customer's weighted mean seed vector."""
        _, pos = self._positions(pairs[schema.ARTICLE_ID].to_numpy())
        cust, inv = np.unique(pairs[schema.CUSTOMER_ID].to_numpy(np.int64), return_inverse=True)
        inv = inv.ravel()
        weighted = self.vectors[pos] * pairs["weight"].to_numpy(np.float32)[:, None]
        query = np.zeros((len(cust), self.vectors.shape[1]), np.float32)
        np.add.at(query, inv, weighted)
        depth = k + int(self.config.exclude_seeds) * self.config.max_seeds
        ids, scores = self.index.search(l2_normalize(query), depth)
        ok = ids >= 0
        return pd.DataFrame(
            {
                schema.CUSTOMER_ID: np.repeat(cust, ids.shape[1])[ok.ravel()],
                schema.ARTICLE_ID: ids[ok].astype(np.int32),
                schema.SCORE: scores[ok],
            }
        )

    # -- product page ------------------------------------------------------------------------------
    def similar(self, article_id: int, k: int = 12) -> pd.DataFrame:
        """``article_id, score, rank``: the ``k`` indexed articles most similar to ``article_id``
        (itself excluded); an unknown id gives an empty frame."""
        if self.cutoff is None or self.index is None:
            raise NotFittedError(f"retriever {self.name!r} is not fitted")
        known, pos = self._positions(np.array([article_id]))
        ids, scores = (
            self.index.search(self.vectors[pos], k + 1)
            if known[0] and k > 0
            else (np.zeros((1, 0), np.int64), np.zeros((1, 0), np.float32))
        )
        keep = (ids[0] != article_id) & (ids[0] >= 0)
        ids, scores = ids[0][keep][:k], scores[0][keep][:k]
        return pd.DataFrame(
            {
                schema.ARTICLE_ID: ids.astype(np.int32),
                schema.SCORE: scores.astype(np.float32),
                schema.RANK: np.arange(1, len(ids) + 1, dtype=np.int32),
            }
        )

    # -- state -------------------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        save_arrays(path, "content", article_ids=self.article_ids, vectors=self.vectors)
        save_frame(path, "content_seeds", self.seeds)
        self.index.save(path, "content_index")

    def _load_state(self, path: Path) -> None:
        arrays = load_arrays(path, "content")
        self.article_ids, self.vectors = arrays["article_ids"], arrays["vectors"]
        self.seeds = load_frame(path, "content_seeds")
        self.index = VectorIndex.load(path, "content_index")
