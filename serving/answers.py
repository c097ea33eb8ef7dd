"""Every context-free answer of one serving state, ranked ahead in bulk: a GET is then a lookup.

Without a cart or a viewed article, a customer's list depends only on the state: the champion,
its precomputed candidates and the online features of one materialization. So when a state is
built, every customer with candidates is ranked at once (customer rows read from the online
store in bulk, one booster call per chunk) and their top :data:`K` kept; a customer without
candidates gets their age bucket's list, also computed once. The per-customer selection and
the rules are those of the request path (:mod:`serving.scoring`), so the lists are the same;
a test compares every customer. Requests with context, or asking for more than ``K``, still
rank in real time. The answers are written under ``$HM_HOME/serving/answers/<state key>/``: a
second worker or a restart on the same state loads them instead of ranking again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.features.online import OnlineFeatures
from recsys.ranking.batch import popularity_member
from recsys.retrieval.popularity import PopularityRetriever, lookup_segment
from recsys.schema import K
from recsys.settings import Settings
from serving.model import ServingState
from serving.rules import Item
from serving.scoring import best_items, cold_items, finish, score_rows

log = logging.getLogger(__name__)
CHUNK = 500  # customers per booster call (~100k rows)
ARRAYS = ("customers", "articles", "scores", "sources", "lengths", "segment_ids", "segment_codes")
KEEP = 3  # answer folders kept per home (the newest)


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
        """Write into folder ``path`` (through a temporary folder renamed into place)."""
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name))
        meta = {"names": list(self.names), "cold": {str(c): v for c, v in self.cold.items()}}
        (tmp / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Answers:
        """Read a folder written by :meth:`save`."""
        meta = json.loads((path / "meta.json").read_text())
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
        return list(self.cold[_segment(self.segment_ids, self.segment_codes, customer_id)][:k])


def answers_root(settings: Settings) -> Path:
    """Where a home keeps its answers ranked ahead."""
    return settings.paths.root / "serving" / "answers"


def ranked_ahead(
    state: ServingState, features: OnlineFeatures, threads: int, root: Path, progress: bool = False
) -> Answers:
    """``state``'s answers from ``root`` (shared by workers and restarts), computed if missing.

    One process computes while the others wait on a lock, then load what it wrote.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / state_key(state)
    with open(root / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / "meta.json").exists():
            return Answers.load(path)
        answers = precompute(state, features, threads, progress)
        answers.save(path)
    _prune(root)
    return answers


def state_key(state: ServingState) -> str:
    """What a state's answers depend on: booster, candidates, features version, on-sale set."""
    parts = [
        state.model.package.ranker.booster.model_to_string(),
        state.model.package.key(),
        str(state.model.version),
        str(state.articles.version),
        hashlib.sha256(state.articles.ids.tobytes() + state.articles.on_sale.tobytes()).hexdigest(),
        str(K),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _prune(root: Path) -> None:
    """Remove all but the :data:`KEEP` newest answer folders (and their locks)."""
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and (p / "meta.json").exists()),
        key=lambda p: p.stat().st_mtime,
    )
    for old in folders[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
        (root / f"{old.name}.lock").unlink(missing_ok=True)


def precompute(
    state: ServingState, features: OnlineFeatures, threads: int, progress: bool = False
) -> Answers:
    """Rank every customer of ``state``'s candidate store, :data:`CHUNK` customers per call."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    store = state.model.candidates
    n = len(store.customers)
    articles, scores = np.zeros((n, K), np.int32), np.zeros((n, K), np.float32)
    sources, lengths = np.zeros((n, K), np.uint8), np.zeros(n, np.uint8)
    names: dict[str, int] = {}
    ids, codes, cold = _segments(state)
    bar = tqdm(total=n, desc="ranking customers ahead", unit="cust", disable=not progress)
    for lo in range(0, n, CHUNK):
        for i, ranked in _ranked_chunk(state, features, lo, min(lo + CHUNK, n), threads):
            personal = ranked or cold[_segment(ids, codes, int(store.customers[i]))]
            items = finish(state, personal, [], set(), K)
            lengths[i] = len(items)
            for j, item in enumerate(items):
                articles[i, j], scores[i, j] = item.article_id, item.score
                sources[i, j] = names.setdefault(item.source, len(names))
        bar.update(min(CHUNK, n - lo))
    bar.close()
    log.info("ranked %d customers ahead in %.1f s", n, time.perf_counter() - start)
    cold_json = {c: render_items(finish(state, items, [], set(), K)) for c, items in cold.items()}
    return Answers(
        store.customers,
        articles,
        scores,
        sources,
        lengths,
        tuple(json.dumps(name) for name in names),
        ids,
        codes,
        cold_json,
    )


def _ranked_chunk(
    state: ServingState, features: OnlineFeatures, lo: int, hi: int, threads: int
) -> Iterator[tuple[int, list[Item]]]:
    """(store row, ranked items) for store customers ``lo:hi``, scored in one booster call."""
    store = state.model.candidates
    offsets = store.offsets
    r0, r1 = int(offsets[lo]), int(offsets[hi])
    articles, block = np.asarray(store.articles[r0:r1]), np.asarray(store.values[r0:r1])
    scores = np.zeros(0)
    if r1 > r0:
        rows = state.layout.customer_rows(features.customers(store.customers[lo:hi]))
        repeated = np.repeat(rows, np.diff(offsets[lo : hi + 1]), axis=0)
        scores = score_rows(state, articles, block, repeated, threads)
    for i in range(lo, hi):
        a, b = int(offsets[i]) - r0, int(offsets[i + 1]) - r0
        yield i, best_items(state, articles[a:b], block[a:b], scores[a:b], K) if b > a else []


def _segments(state: ServingState) -> tuple[np.ndarray, np.ndarray, dict[int, list[Item]]]:
    """The popularity member's (customer ids, segments) and each segment's cold-start items."""
    member = popularity_member(state.model.package.union)
    ids, codes = np.zeros(0, np.int64), np.zeros(0, np.int8)
    if isinstance(member, PopularityRetriever):
        ids, codes = member.segment_table()
    examples = {0: _outsider(ids)}  # anyone not in ``ids`` gets segment 0
    for code in np.unique(codes):
        examples.setdefault(int(code), int(ids[np.argmax(codes == code)]))
    return ids, codes, {code: cold_items(state, c, K) for code, c in examples.items()}


def _outsider(ids: np.ndarray) -> int:
    """A customer id that is not in the sorted ``ids``."""
    candidate = -1
    while np.isin(candidate, ids):
        candidate -= 1
    return candidate


def _segment(ids: np.ndarray, codes: np.ndarray, customer_id: int) -> int:
    """``customer_id``'s segment (0 if not in the sorted ``ids``)."""
    return int(lookup_segment(ids, codes, np.array([customer_id], np.int64))[0])


def render_items(items: list[Item]) -> tuple[str, ...]:
    """Items' JSON, ranked from 1."""
    return tuple(
        item_json(r, i.article_id, i.score, json.dumps(i.source)) for r, i in enumerate(items, 1)
    )
