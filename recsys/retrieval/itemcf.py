"""Item-based collaborative filtering: bought by the same customers, normalised by popularity."""

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


class ItemCFRetriever(ItemGraphRetriever):
    """Scores ``sum_i w_i * S[i, j]``, ``S[i, j] = C[i, j] / (n_i ** alpha * n_j ** (1 - alpha))``.

    ``C[i, j]`` counts customers who bought both ``i`` and ``j`` in the last ``days`` days (each
    weighted by ``1 / log2(1 + basket size)`` when ``damp_heavy`` so heavy buyers count less) and
    ``n_i`` counts the buyers of ``i``: ``alpha`` = 0.5 is cosine, 1 is P(j | i). With
    ``half_life`` > 0 a purchase counts ``0.5 ** (age / half_life)`` instead of 1 in ``C``.
    """

    kind = "itemcf"

    def __init__(
        self,
        *,
        days: int = 168,
        alpha: float = 0.8,
        damp_heavy: bool = True,
        half_life: float = 28.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.days, self.alpha, self.damp_heavy = days, alpha, damp_heavy
        self.half_life = half_life

    def params(self) -> dict[str, Any]:
        extra = {
            "days": self.days,
            "alpha": self.alpha,
            "damp_heavy": self.damp_heavy,
            "half_life": self.half_life,
        }
        return {**super().params(), **extra}

    def _similarity(self, history: History, catalogue: np.ndarray) -> sp.csr_matrix:
        customers, items, ago = recent_purchases(history, catalogue, self.days)
        _, rows = np.unique(customers, return_inverse=True)
        x = incidence(rows, items, len(catalogue))
        sizes = np.diff(x.indptr).astype(np.float32)
        weight = 1.0 / np.log2(1.0 + sizes) if self.damp_heavy else None
        buyers = np.asarray(x.sum(axis=0)).ravel()
        with np.errstate(divide="ignore"):
            row_scale = np.where(buyers > 0, buyers**-self.alpha, 0.0)
            col_scale = np.where(buyers > 0, buyers ** (self.alpha - 1.0), 0.0)
        if self.half_life > 0:  # repeated purchases add up
            x = sp.csr_matrix((decay(ago, self.half_life), (rows, items)), shape=x.shape)
        return pruned_gram(x, self.neighbours, row_scale, col_scale, weight)
