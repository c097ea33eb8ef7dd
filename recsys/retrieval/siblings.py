"""Siblings: other colours/variants (same ``product_code``) of what the customer bought or views."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.base import Retriever, top_k
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.groupsum import group_sums
from recsys.retrieval.history import History
from recsys.retrieval.repurchase import customer_article_weights, rows_of
from recsys.retrieval.state import load_arrays, save_arrays

PRODUCT_CODE = schema.PRODUCT_CODE


def sibling_shares(
    history: History, popularity_days: int, smoothing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Catalogue articles grouped by product code with their recent sales share in the code.

    Returns ``product_code, article_id, share`` sorted by product code then article, where
    ``share = (sales + smoothing) / (code sales + smoothing * code size)`` over the last
    ``popularity_days`` days. Articles of single-article codes are left out (no siblings).
    """
    arts = history.articles
    codes = arts[PRODUCT_CODE].to_numpy(np.int64)
    ids = arts[schema.ARTICLE_ID].to_numpy(np.int32)
    sales = history.recent(popularity_days)[schema.ARTICLE_ID].value_counts()
    counts = sales.reindex(ids, fill_value=0).to_numpy(np.float64) + smoothing
    frame = pd.DataFrame({"p": codes, "a": ids, "n": counts}).sort_values(["p", "a"])
    total = frame.groupby("p")["n"].transform("sum").to_numpy()
    size = frame.groupby("p")["a"].transform("size").to_numpy()
    keep = (size > 1) & (total > 0)
    frame = frame[keep]
    share = frame["n"].to_numpy() / total[keep]
    return frame["p"].to_numpy(np.int64), frame["a"].to_numpy(np.int32), share


def pair_keys(customers: np.ndarray, c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """One int64 per (customer, article) pair; ``customers`` sorted and holding every ``c``."""
    pos = np.searchsorted(customers, c).astype(np.int64)
    return (pos << 32) | a.astype(np.int64) & 0xFFFFFFFF


def sorted_member(keys: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_set)`` by binary search (``sorted_set`` sorted ascending)."""
    if len(sorted_set) == 0:
        return np.zeros(len(keys), bool)
    pos = np.minimum(np.searchsorted(sorted_set, keys), len(sorted_set) - 1)
    return sorted_set[pos] == keys


@dataclass(frozen=True)
class SiblingsConfig(RetrieverConfig):
    """Parameters of :class:`SiblingsRetriever`."""

    days: int | None = None  # purchases of the last ``days`` days seed (None: all history)
    half_life_days: float = 60.0  # a seeding purchase this many days older weighs half as much
    popularity_days: int = 28  # a sibling's share of its code's sales over these last days
    smoothing: float = 0.1  # added to every article's sales before taking shares
    context_weight: float = 1.0  # weight a context article adds to its product code


class SiblingsRetriever(Retriever, kind="siblings", config=SiblingsConfig):
    """Articles sharing a product code with the customer's purchases (or the context articles).

    A customer's weight on a product code is the summed decayed weight of their purchases in it
    over the last ``days`` days (half-life ``half_life_days``); context articles add
    ``context_weight`` to their codes for every asked customer. A sibling scores that weight times
    its share of the code's sales over the last ``popularity_days`` days. The seeding articles
    themselves (bought in the window, or in the context) are never returned.
    """

    config: SiblingsConfig
    nested = True  # fixed per-pair scores cut by top_k

    def __init__(self, config: SiblingsConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self._state: dict[str, np.ndarray] = {}

    def _fit(self, history: History) -> None:
        cfg = self.config
        c, a, w = customer_article_weights(history, cfg.days, cfg.half_life_days)
        codes, sib, share = sibling_shares(history, cfg.popularity_days, cfg.smoothing)
        arts = history.articles.sort_values(schema.ARTICLE_ID)
        self._state = {
            "customers": c,
            "articles": a,
            "weights": w,
            "codes": codes,
            "siblings": sib,
            "shares": share,
            "catalogue": arts[schema.ARTICLE_ID].to_numpy(np.int32),
            "catalogue_codes": arts[PRODUCT_CODE].to_numpy(np.int64),
        }

    def _code_of(self, articles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Product code per article and a mask of the articles found in the catalogue."""
        cat = self._state["catalogue"]
        if len(cat) == 0:
            return np.zeros(len(articles), np.int64), np.zeros(len(articles), bool)
        pos = np.clip(np.searchsorted(cat, articles), 0, len(cat) - 1)
        return self._state["catalogue_codes"][pos], cat[pos] == articles

    def _seeds(self, customers: np.ndarray, context: np.ndarray) -> pd.DataFrame:
        """Seed rows ``c, a, p, w``: the customers' purchases plus the context for everyone."""
        st = self._state
        idx = rows_of(st["customers"], customers)
        seeds = pd.DataFrame(
            {"c": st["customers"][idx], "a": st["articles"][idx], "w": st["weights"][idx]}
        )
        found = self._code_of(context)[1]
        ctx = context[found]
        if len(ctx) and len(customers):
            seeds = pd.concat(
                [
                    seeds,
                    pd.DataFrame(
                        {
                            "c": np.repeat(customers, len(ctx)),
                            "a": np.tile(ctx, len(customers)),
                            "w": np.full(len(customers) * len(ctx), self.config.context_weight),
                        }
                    ),
                ],
                ignore_index=True,
            )
        seeds["p"] = self._code_of(seeds["a"].to_numpy(np.int32))[0]
        return seeds

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        st = self._state
        seeds = self._seeds(customers, context)
        c, p = seeds["c"].to_numpy(np.int64), seeds["p"].to_numpy(np.int64)
        codes, p_code = np.unique(p, return_inverse=True)
        pos = np.searchsorted(customers, c)
        keys, weight = group_sums(pos * max(len(codes), 1) + p_code.ravel(), seeds["w"].to_numpy())
        pc = codes[keys % max(len(codes), 1)]  # per (customer, code): the summed weight
        rows = rows_of(st["codes"], pc)
        counts = np.searchsorted(st["codes"], pc, "right") - np.searchsorted(st["codes"], pc)
        cust = np.repeat(customers[keys // max(len(codes), 1)], counts)
        score = np.repeat(weight.astype(np.float64), counts) * st["shares"][rows]
        arts = st["siblings"][rows]
        seen = np.sort(pair_keys(customers, c, seeds["a"].to_numpy()))
        fresh = ~sorted_member(pair_keys(customers, cust, arts), seen)
        return top_k(cust[fresh], arts[fresh], score[fresh], k)

    def _save_state(self, path: Path) -> None:
        save_arrays(path, "siblings", **self._state)

    def _load_state(self, path: Path) -> None:
        self._state = load_arrays(path, "siblings")
