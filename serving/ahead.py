"""Every customer's context-free list of one serving state, ranked in bulk when it is published.

The weekly loop calls :func:`rank_ahead` after materializing the features and writing the
candidates of the model it is about to make champion: customer rows are read from the online
store in bulk and scored one booster call per :data:`CHUNK` customers; the per-customer
selection and the rules are those of the request path (:mod:`serving.scoring`), so the lists are
the same (a test compares every customer). Customers without candidates get their age bucket's
list, computed once per bucket. The request path never imports this module: servers only load
what it wrote (:mod:`serving.answers`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recsys import swap
from recsys.features.online import OnlineFeatures
from recsys.ranking.coldstart import popularity_member
from recsys.retrieval.popularity import PopularityRetriever
from recsys.schema import K
from recsys.settings import Settings
from serving.answers import META, Answers, item_json, segment_of
from serving.model import ServingModel, ServingState, features_published, serving_state
from serving.rules import Item
from serving.scoring import best_items, cold_items, finish, score_rows

log = logging.getLogger(__name__)
CHUNK = 500  # customers per booster call (~100k rows)
KEEP = 3  # answer folders kept per home (the newest)


def rank_ahead(settings: Settings, version: str, progress: bool = False) -> Answers:
    """The answers of model ``version`` over the online store's current features, ranked now
    (or loaded, when this state was ranked before)."""
    features_published(settings, None, None)
    features = OnlineFeatures(settings, refresh_s=0)
    model = ServingModel.load(settings, version)
    state = serving_state(model, features, features.customer(-1), settings.on_sale_days)
    return ranked_ahead(state, features, settings.threads, settings.paths.answers, progress)


def ranked_ahead(
    state: ServingState, features: OnlineFeatures, threads: int, root: Path, progress: bool = False
) -> Answers:
    """``state``'s answers from ``root`` (shared by workers and restarts), computed if missing.

    One process computes while the others wait on a lock, then load what it wrote.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / state.key
    with open(root / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / META).exists():
            return Answers.load(path)
        answers = precompute(state, features, threads, progress)
        answers.save(path)
    _prune(root)
    return answers


def _prune(root: Path) -> None:
    """Remove all but the :data:`KEEP` newest published answers (and their locks)."""
    folders = sorted(
        (
            p
            for p in root.iterdir()
            if swap.TMP not in p.name and swap.VERSION not in p.name and (p / META).exists()
        ),
        key=lambda p: p.lstat().st_mtime,
    )
    for old in folders[:-KEEP]:
        swap.remove(old)
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
            personal = ranked or cold[segment_of(ids, codes, int(store.customers[i]))]
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


def render_items(items: list[Item]) -> tuple[str, ...]:
    """Items' JSON, ranked from 1."""
    return tuple(
        item_json(r, i.article_id, i.score, json.dumps(i.source)) for r, i in enumerate(items, 1)
    )
