"""'Bought together': articles sharing baskets (customer-day) with the customer's seed articles."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.retrieval.history import History
from recsys.retrieval.itemgraph import (
    ItemGraphRetriever,
    decay,
    incidence,
    pruned_gram,
    recent_purchases,
)


class CooccurrenceRetriever(ItemGraphRetriever):
    """Scores ``sum_i w_i * C[i, j]``, ``C`` = pair counts in baskets of the last ``days`` days.

    A basket is one customer's purchases of one day; a basket ``basket_half_life`` days older
    counts half as much (no decay when 0). Seeding, pruning, context: :class:`ItemGraphRetriever`.
    """

    kind = "cooccurrence"

    def __init__(self, *, days: int = 168, basket_half_life: float = 28.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.days, self.basket_half_life = days, basket_half_life

    def params(self) -> dict[str, Any]:
        return {**super().params(), "days": self.days, "basket_half_life": self.basket_half_life}

    def _similarity(self, history: History, catalogue: np.ndarray) -> sp.csr_matrix:
        customers, items, ago = recent_purchases(history, catalogue, self.days)
        _, codes = np.unique(customers, return_inverse=True)
        keys, baskets = np.unique(
            codes.astype(np.int64) * (self.days + 1) + ago, return_inverse=True
        )
        x = incidence(baskets, items, len(catalogue))
        ones = np.ones(len(catalogue), dtype=np.float32)
        weight = decay(keys % (self.days + 1), self.basket_half_life)
        return pruned_gram(x, self.neighbours, ones, ones, weight)
