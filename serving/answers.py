"""Every context-free answer of one serving state, ranked ahead: a GET is then a lookup.

Without a cart or a viewed article, a customer's list depends only on the serving state: the
champion, its precomputed candidates and the online features of one materialization. The weekly
loop ranks every customer once per state (:mod:`serving.ahead`) and writes the top :data:`K`
under ``$HM_HOME/serving/answers/<state key>/``; servers load them here. Requests with context,
or asking for more than ``K``, still rank in real time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys import swap
from recsys.retrieval.popularity import lookup_segment
from recsys.schema import K

ARRAYS = ("customers", "articles", "scores", "sources", "lengths", "segment_ids", "segment_codes")
META = "meta.json"


def item_json(rank: int, article_id: int, score: float, source_json: str) -> str:
    """One item of the response, exactly as ``json.dumps(..., separators=(",", ":"))`` writes it."""
    return f'{{"article_id":{article_id},"score":{score!r},"rank":{rank},"source":{source_json}}}'


@dataclass(frozen=True)
class Answers:
    """Top-``K`` lists of one state: a row per customer with candidates, a list per segment."""

    customers: np.ndarray  # sorted int64 ids with a row
    articles: np.ndarray  # (customers, K) int32
    scores: np.ndarray  # (customers, K) float32
    sources: np.ndarray  # (customers, K) uint8, index into ``names``
    lengths: np.ndarray  # (customers,) items per row (<= K)
    names: tuple[str, ...]  # source names, JSON-encoded
    segment_ids: np.ndarray  # sorted ids of customers with an age segment
    segment_codes: np.ndarray  # their segment (anyone else: 0)
    cold: dict[int, tuple[str, ...]]  # per segment: its items' JSON

    def save(self, path: Path) -> Path:
        """Write into folder ``path``: a temporary folder beside, switched in by one rename
        (:mod:`recsys.swap`; a killed writer's leftovers are removed by the next save)."""
        tmp = swap.tmp_beside(path)
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name))
        meta = {"names": list(self.names), "cold": {str(c): v for c, v in self.cold.items()}}
        (tmp / META).write_text(json.dumps(meta))
        return swap.publish(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Answers:
        """Read a folder written by :meth:`save` (every file from the one version it names)."""
        path = swap.resolve(path)
        meta = json.loads((path / META).read_text())
        arrays = {name: np.load(path / f"{name}.npy") for name in ARRAYS}
        cold = {int(c): tuple(v) for c, v in meta["cold"].items()}
        return cls(**arrays, names=tuple(meta["names"]), cold=cold)

    def items_json(self, customer_id: int, k: int) -> list[str] | None:
        """The first ``k`` items' JSON for a customer (``None`` if ``k`` exceeds ``K``)."""
        if k > K:
            return None
        i = int(np.searchsorted(self.customers, customer_id))
        if i < len(self.customers) and self.customers[i] == customer_id:
            n = min(k, int(self.lengths[i]))
            names = self.names
            arts, scores = self.articles[i, :n].tolist(), self.scores[i, :n].tolist()
            codes = self.sources[i, :n].tolist()
            return [
                item_json(r, a, s, names[c])
                for r, (a, s, c) in enumerate(zip(arts, scores, codes, strict=True), start=1)
            ]
        return list(self.cold[segment_of(self.segment_ids, self.segment_codes, customer_id)][:k])


def load_answers(root: Path, key: str) -> Answers | None:
    """The answers of the state with ``key`` under ``root``, if the loop published them."""
    path = root / key
    return Answers.load(path) if (path / META).exists() else None


def segment_of(ids: np.ndarray, codes: np.ndarray, customer_id: int) -> int:
    """``customer_id``'s segment (0 if not in the sorted ``ids``)."""
    return int(lookup_segment(ids, codes, np.array([customer_id], np.int64))[0])
