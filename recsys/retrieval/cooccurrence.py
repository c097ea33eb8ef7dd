"""'Bought together': articles sharing baskets (customer-day) with the customer's seed articles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.retrieval.history import History
from recsys.retrieval.itemgraph import (
    ItemGraphConfig,
    ItemGraphRetriever,
    decay,
    incidence,
    pruned_gram,
    recent_purchases,
)


@dataclass(frozen=True)
class CooccurrenceConfig(ItemGraphConfig):
    """Parameters of :class:`CooccurrenceRetriever` (seeding and pruning: ItemGraphConfig)."""

    days: int = 168  # baskets of the last ``days`` days count
    basket_half_life: float = 28.0  # a basket this many days older counts half (0: no decay)


class CooccurrenceRetriever(ItemGraphRetriever, kind="cooccurrence", config=CooccurrenceConfig):
    """Scores ``sum_i w_i * C[i, j]``, ``C`` = pair counts in baskets of the last ``days`` days.

    A basket is one customer's purchases of one day; a basket ``basket_half_life`` days older
    counts half as much (no decay when 0). Seeding, pruning, context: :class:`ItemGraphRetriever`.
    """

    fit_weight = 3  # 55 s at full H&M scale

    config: CooccurrenceConfig

    def _similarity(self, history: History, catalogue: np.ndarray) -> sp.csr_matrix:
        cfg = self.config
        customers, items, ago = recent_purchases(history, catalogue, cfg.days)
        _, codes = np.unique(customers, return_inverse=True)
        keys, baskets = np.unique(
            codes.astype(np.int64) * (cfg.days + 1) + ago, return_inverse=True
        )
        x = incidence(baskets, items, len(catalogue))
        ones = np.ones(len(catalogue), dtype=np.float32)
        weight = decay(keys % (cfg.days + 1), cfg.basket_half_life)
        return pruned_gram(x, cfg.neighbours, ones, ones, weight)
