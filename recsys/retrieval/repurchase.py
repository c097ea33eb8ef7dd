"""Repurchase: the customer's own past articles, weighted by recency and frequency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.base import Retriever, top_k
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.history import History
from recsys.retrieval.state import load_arrays, save_arrays


def decay_weights(days_ago: np.ndarray, half_life_days: float) -> np.ndarray:
    """Exponential recency weight per transaction: 1 the day before the cutoff, halving every
    ``half_life_days`` days."""
    return np.exp2(-(days_ago.astype(np.float64) - 1.0) / float(half_life_days))


def customer_article_weights(
    history: History, days: int | None, half_life_days: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summed decayed weight per (customer, article) over the last ``days`` days (None: all).

    Returns parallel arrays ``customer_id, article_id, weight`` sorted by customer then article,
    computed once per history and arguments (repurchase and siblings share them; read-only).
    """
    key = ("customer_article_weights", days, float(half_life_days))
    return history.shared(key, lambda: _customer_article_weights(history, days, half_life_days))


def _customer_article_weights(
    history: History, days: int | None, half_life_days: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`customer_article_weights`, computed."""
    tx = history.transactions
    days_ago = history.days_ago
    mask = np.ones(len(tx), bool) if days is None else days_ago <= days
    frame = pd.DataFrame(
        {
            "c": tx[schema.CUSTOMER_ID].to_numpy(np.int64)[mask],
            "a": tx[schema.ARTICLE_ID].to_numpy(np.int32)[mask],
            "w": decay_weights(days_ago[mask], half_life_days),
        }
    )
    grouped = frame.groupby(["c", "a"], sort=True)["w"].sum()
    customers = grouped.index.get_level_values(0).to_numpy(np.int64)
    articles = grouped.index.get_level_values(1).to_numpy(np.int32)
    arrays = (customers, articles, grouped.to_numpy(np.float64))
    for array in arrays:
        array.setflags(write=False)
    return arrays


def rows_of(sorted_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of every row of ``sorted_keys`` whose key is in ``wanted`` (vectorised)."""
    left = np.searchsorted(sorted_keys, wanted, side="left")
    right = np.searchsorted(sorted_keys, wanted, side="right")
    lengths = right - left
    if lengths.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(left - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return starts + np.arange(lengths.sum())


@dataclass(frozen=True)
class RepurchaseConfig(RetrieverConfig):
    """Parameters of :class:`RepurchaseRetriever`."""

    days: int | None = None  # purchases of the last ``days`` days count (None: all history)
    half_life_days: float = 60.0  # a purchase this many days older weighs half as much


class RepurchaseRetriever(Retriever, kind="repurchase", config=RepurchaseConfig):
    """The articles a customer bought, scored by the sum of exponentially decayed purchases.

    Each purchase in the last ``days`` days (None: all history) adds ``2 ** (-(days_ago - 1) /
    half_life_days)``, so recent and repeated purchases rank first. Customers without purchases
    get no rows; ``context`` is ignored.
    """

    config: RepurchaseConfig
    nested = True  # fixed per-pair scores cut by top_k

    def __init__(self, config: RepurchaseConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self._customers = np.zeros(0, np.int64)
        self._articles = np.zeros(0, np.int32)
        self._scores = np.zeros(0, np.float32)

    def _fit(self, history: History) -> None:
        cfg = self.config
        c, a, w = customer_article_weights(history, cfg.days, cfg.half_life_days)
        self._customers, self._articles, self._scores = c, a, w.astype(np.float32)

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        idx = rows_of(self._customers, customers)
        return top_k(self._customers[idx], self._articles[idx], self._scores[idx], k)

    def _save_state(self, path: Path) -> None:
        save_arrays(
            path,
            "repurchase",
            customers=self._customers,
            articles=self._articles,
            scores=self._scores,
        )

    def _load_state(self, path: Path) -> None:
        state = load_arrays(path, "repurchase")
        self._customers, self._articles = state["customers"], state["articles"]
        self._scores = state["scores"]
