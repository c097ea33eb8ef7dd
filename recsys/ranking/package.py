"""The deployable recommender: a fitted candidate union plus the ranker, in one folder.

What the registry stores as ``hm-ranker`` and what the server loads; the batch
(:mod:`recsys.ranking.batch`) and the server rank with it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recsys.ranking.ranker import Ranker
from recsys.retrieval.union import UnionRetriever


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

    def key(self) -> str:
        """A short hash of what the candidates depend on: the union's build and its cutoff."""
        return _key({**self.meta, "cutoff": self.cutoff})

    @staticmethod
    def key_of(path: Path) -> str:
        """:meth:`key` of the package saved in ``path``, from its ``package.json`` alone."""
        return _key(json.loads((Path(path) / "package.json").read_text()))

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


def _key(meta: dict) -> str:
    """A short hash of a package's meta (its cutoff included)."""
    import hashlib

    text = json.dumps(meta, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
