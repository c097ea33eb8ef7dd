"""The deployable recommender: a fitted candidate union plus the ranker, in one folder.

``recommend`` turns customers into ranked top-k lists: union candidates, interaction features from
the history, customer/article features from a reader (offline snapshot for batch, Feast online
store for serving), ranker scores, then a top-up from the best sellers for short lists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.dataset import candidates
from recsys.ranking.ranker import Ranker
from recsys.ranking.recommend import fill_with, top_by_score
from recsys.retrieval.history import History
from recsys.retrieval.union import UnionRetriever
from recsys.schema import K

FALLBACK = "popular_fallback"  # source of items topped up from the best sellers
FeatureReader = Callable[[pd.DataFrame], pd.DataFrame]  # adds store features to candidate rows


@dataclass
class RecommenderPackage:
    """Union (fitted at ``cutoff``), ranker, the fallback list and what they were built from."""

    union: UnionRetriever
    ranker: Ranker
    popular: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def cutoff(self) -> dt.date:
        """The first day the package recommends for (everything it learnt is before it)."""
        return self.union.cutoff

    def recommend(
        self,
        customers: np.ndarray,
        history: History,
        features: FeatureReader,
        k: int = K,
        candidates_k: int = 200,
        sink: Callable[[pd.DataFrame], None] | None = None,
    ) -> pd.DataFrame:
        """``customer_id, article_id, score, rank, source`` (top ``k`` per customer).

        ``sink`` receives the candidate rows before store features are added (the online
        server's precomputed candidates, :mod:`recsys.ranking.candidate_store`).
        """
        customers = np.unique(np.asarray(customers, np.int64))
        rows = candidates(history, self.union, customers, candidates_k)
        if sink is not None:
            sink(rows)
        frame = features(rows)
        ranked = top_by_score(frame, self.ranker.score(frame), k)
        source = frame.set_index([schema.CUSTOMER_ID, schema.ARTICLE_ID])["best_source"]
        out = fill_with(ranked, self.popular, customers, k)
        keys = pd.MultiIndex.from_frame(out[[schema.CUSTOMER_ID, schema.ARTICLE_ID]])
        codes = source.reindex(keys).to_numpy()
        names = np.array([*self.union.source_names, FALLBACK])
        out[schema.SOURCE] = names[np.where(np.isnan(codes), len(names) - 1, codes).astype(int)]
        score = ranked.set_index([schema.CUSTOMER_ID, schema.ARTICLE_ID])[schema.SCORE]
        out.insert(2, schema.SCORE, score.reindex(keys).to_numpy(np.float32))
        return out

    def key(self) -> str:
        """A short hash of what the candidates depend on: the union's build and its cutoff."""
        import hashlib

        text = json.dumps({**self.meta, "cutoff": self.cutoff}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: Path) -> Path:
        """``union/``, ``ranker/``, ``popular.parquet`` and ``package.json`` under ``path``."""
        path = Path(path)
        self.union.save(path / "union")
        self.ranker.save(path / "ranker")
        self.popular.to_parquet(path / "popular.parquet", index=False)
        meta = {**self.meta, "cutoff": self.cutoff.isoformat()}
        (path / "package.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return path

    @classmethod
    def load(cls, path: Path) -> RecommenderPackage:
        """A package written by :meth:`save`."""
        from recsys.retrieval.registry import load_retriever

        path = Path(path)
        meta = json.loads((path / "package.json").read_text())
        popular = pd.read_parquet(path / "popular.parquet")
        return cls(load_retriever(path / "union"), Ranker.load(path / "ranker"), popular, meta)
