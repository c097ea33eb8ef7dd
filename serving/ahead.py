"""Every customer's context-free list of one serving state, ranked in bulk when it is published.

The weekly loop calls :func:`rank_ahead` after materializing the features and writing the
candidates of the model it is about to make champion. When the batch that wrote those candidates
scored them over the very snapshots now online (the store's ``features`` is the online stamp),
its scores are the request path's (same rows, same booster) and are used as they are; otherwise
customer rows are read from the online store in bulk and scored one booster call per
:data:`CHUNK` customers. The per-customer selection and the rules are those of the request path
(:mod:`serving.scoring`), so the lists are the same (a test compares every customer, both
ways). Customers without candidates get their age bucket's list, computed once per bucket. The
request path never imports this module: servers only load what it wrote (:mod:`serving.answers`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from recsys import swap
from recsys.features.online import OnlineFeatures
from recsys.parallel import Parallel
from recsys.ranking.candidate_store import FEATURES, RANKER, CandidateStore
from recsys.ranking.coldstart import popularity_member
from recsys.retrieval.popularity import PopularityRetriever, lookup_segment
from recsys.schema import FALLBACK, K
from recsys.settings import Settings
from serving.answers import META, Answers, item_json
from serving.bulk_lists import Lists, drop_repeats, first_seen_codes, grouped_top, top_up
from serving.model import (
    ArticleTable,
    ServingModel,
    ServingState,
    features_published,
    serving_state,
)
from serving.rules import Item, allowed
from serving.scoring import cold_items, finish, on_sale_check, popular_items, score_rows

log = logging.getLogger(__name__)
CHUNK = 500  # customers per booster call (~100k rows)
KEEP = 3  # answer folders kept per home (the newest)


def rank_ahead(
    settings: Settings, version: str, progress: bool = False, parallel: Parallel | None = None
) -> Answers:
    """The answers of model ``version`` over the online store's current features, ranked now
    (or loaded, when this state was ranked before); with a cluster's ``parallel``, the chunks
    of a store the batch scored are ranked on its workers."""
    features_published(settings, None, None)
    features = OnlineFeatures(settings, refresh_s=0)
    model = ServingModel.load(settings, version)
    state = serving_state(model, features, features.customer(-1), settings.on_sale_days)
    where = parallel or Parallel(settings.threads)
    return ranked_ahead(state, features, where, settings.paths.answers, progress)


def ranked_ahead(
    state: ServingState,
    features: OnlineFeatures,
    where: int | Parallel,
    root: Path,
    progress: bool = False,
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
        answers = precompute(state, features, where, progress)
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
    state: ServingState,
    features: OnlineFeatures,
    where: int | Parallel = 1,
    progress: bool = False,
) -> Answers:
    """Rank every customer of ``state``'s candidate store, :data:`CHUNK` customers per call
    (``where``: booster threads, or a :class:`Parallel`; its cluster ranks the chunks of a
    store the batch scored, a task each: the answers are the same)."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    store = state.model.candidates
    n = len(store.customers)
    out = Lists.empty(n, K)
    ids, codes, cold = _segments(state)
    rules = _Rules.of(state, cold)
    bar = tqdm(total=n, desc="ranking customers ahead", unit="cust", disable=not progress)
    for lo, hi, lists in _finished_chunks(state, features, rules, ids, codes, where):
        for name in ("articles", "scores", "sources", "lengths"):
            getattr(out, name)[lo:hi] = getattr(lists, name)
        bar.update(hi - lo)
    bar.close()
    log.info("ranked %d customers ahead in %.1f s", n, time.perf_counter() - start)
    sources, used = first_seen_codes(out, len(rules.names))
    cold_json = {c: render_items(finish(state, items, [], set(), K)) for c, items in cold.items()}
    return Answers(
        store.customers,
        out.articles,
        out.scores,
        sources.astype(np.uint8),
        out.lengths.astype(np.uint8),
        tuple(json.dumps(rules.names[c]) for c in used.tolist()),
        ids,
        codes,
        cold_json,
    )


@dataclass(frozen=True)
class _Rules:
    """The context-free rules of one state, as arrays: the best sellers on sale (the top-up)
    and each segment's finished cold-start list, with source codes into ``names``."""

    names: list[str]
    fallback: np.ndarray  # best sellers on sale, deduplicated, in order
    cold: dict[int, Lists]  # per segment: its list (one row)

    @classmethod
    def of(cls, state: ServingState, cold: dict[int, list[Item]]) -> _Rules:
        """The arrays of ``state``'s rules (``cold``: each segment's cold-start items)."""
        names = [*state.model.package.union.source_names, FALLBACK]
        on_sale = on_sale_check(state)
        fallback = [i.article_id for i in allowed(popular_items(state), set(), on_sale)]
        rows = {}
        for code, items in cold.items():
            done = finish(state, items, [], set(), K)
            row = Lists.empty(1, K)
            for j, item in enumerate(done):
                if item.source not in names:
                    names.append(item.source)
                row.articles[0, j], row.scores[0, j] = item.article_id, item.score
                row.sources[0, j] = names.index(item.source)
            row.lengths[0] = len(done)
            rows[code] = row
        return cls(names, np.array(fallback, np.int32), rows)

    def apply(self, personal: Lists, segments: np.ndarray) -> Lists:
        """Finished lists: ``personal`` (ranked, on sale) without repeats, topped up; a row
        with no candidate on sale gets its ``segments``' cold-start list instead."""
        without = personal.lengths == 0
        lists = top_up(drop_repeats(personal), self.fallback, self.names.index(FALLBACK))
        for code in np.unique(segments[without]).tolist():
            rows = without & (segments == code)
            row = self.cold[code]
            for name in ("articles", "scores", "sources", "lengths"):
                getattr(lists, name)[rows] = getattr(row, name)[0]
        return lists


def _finished_chunks(
    state: ServingState,
    features: OnlineFeatures,
    rules: _Rules,
    ids: np.ndarray,
    codes: np.ndarray,
    where: int | Parallel,
) -> Iterator[tuple[int, int, Lists]]:
    """(lo, hi, finished lists of store customers ``lo:hi``) per chunk, in order."""
    store = state.model.candidates
    on_cluster = isinstance(where, Parallel) and where.client is not None
    if on_cluster and store.path is not None and scored_by_batch(state):
        assert isinstance(where, Parallel)
        table = replace(state.articles, matrix=state.articles.matrix[:0])  # ids and on-sale
        job = _KeptScores(store.path, table, rules, ids, codes)
        bounds = _bounds(store)
        for (lo, hi), lists in zip(bounds, where.map(_kept_chunk, job, bounds), strict=True):
            yield lo, hi, lists
        return
    threads = where if isinstance(where, int) else where.workers
    chunks = _scored_chunks(store) if scored_by_batch(state) else _customer_rows(state, features)
    for lo, hi, rows in chunks:
        segments = lookup_segment(ids, codes, np.asarray(store.customers[lo:hi], np.int64))
        top = _top(store, state.articles, lo, hi, _booster_scores(state, rows, threads))
        yield lo, hi, rules.apply(top, segments)


@dataclass(frozen=True)
class _KeptScores:
    """What a chunk of a store the batch scored is finished with, on a worker (the store is
    read from its folder there)."""

    store: Path
    articles: ArticleTable
    rules: _Rules
    ids: np.ndarray
    codes: np.ndarray


def _kept_chunk(job: _KeptScores, bounds: tuple[int, int]) -> Lists:
    """The finished lists of store customers ``lo:hi`` by the scores the batch kept."""
    lo, hi = bounds
    store = CandidateStore.open(job.store)
    segments = lookup_segment(job.ids, job.codes, np.asarray(store.customers[lo:hi], np.int64))
    return job.rules.apply(_top(store, job.articles, lo, hi, None), segments)


def scored_by_batch(state: ServingState) -> bool:
    """Whether ``state``'s candidate store holds its ranker's scores over the features online
    now (the batch ranked with this ranker on the snapshots that were materialized)."""
    store = state.model.candidates
    if store.scores is None or state.articles.version is None:
        return False
    same_ranker = store.meta.get(RANKER) == state.model.package.ranker.digest()
    return same_ranker and store.meta.get(FEATURES) == state.articles.version


def _bounds(store: CandidateStore) -> list[tuple[int, int]]:
    """(lo, hi) of each :data:`CHUNK` of the store's customers."""
    n = len(store.customers)
    return [(lo, min(lo + CHUNK, n)) for lo in range(0, n, CHUNK)]


def _scored_chunks(store: CandidateStore) -> Iterator[tuple[int, int, None]]:
    """(lo, hi, None) per chunk: no rows to read, the scores are kept."""
    for lo, hi in _bounds(store):
        yield lo, hi, None


def _customer_rows(
    state: ServingState, features: OnlineFeatures
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(lo, hi, ranker rows of store customers ``lo:hi``) per :data:`CHUNK`, each read from the
    online store by a thread while the caller ranks the chunk before (the read is Python, the
    booster releases the GIL: the two use both cores)."""
    customers = state.model.candidates.customers
    bounds = _bounds(state.model.candidates)

    def read(lo: int, hi: int) -> np.ndarray:
        return state.layout.customer_rows(features.customers(customers[lo:hi]))

    with ThreadPoolExecutor(1, thread_name_prefix="hm-ahead-read") as pool:
        pending = pool.submit(read, *bounds[0]) if bounds else None
        for i, (lo, hi) in enumerate(bounds):
            assert pending is not None
            rows = pending.result()
            pending = pool.submit(read, *bounds[i + 1]) if i + 1 < len(bounds) else None
            yield lo, hi, rows


Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _booster_scores(state: ServingState, rows: np.ndarray | None, threads: int) -> Scorer | None:
    """Scores of a chunk's candidates by ``state``'s booster over the customers' ranker
    ``rows`` (one call); None for ``rows`` None (the store's kept scores)."""
    if rows is None:
        return None

    def score(articles: np.ndarray, block: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return score_rows(state, articles, block, np.repeat(rows, counts, axis=0), threads)

    return score


def _top(
    store: CandidateStore, table: ArticleTable, lo: int, hi: int, scorer: Scorer | None
) -> Lists:
    """The top :data:`K` candidates on sale of store customers ``lo:hi`` (ties: lower article
    id), by ``scorer`` (None: the scores the store kept)."""
    counts = np.diff(store.offsets[lo : hi + 1])
    r0, r1 = int(store.offsets[lo]), int(store.offsets[hi])
    if r1 == r0:
        return Lists.empty(hi - lo, K)
    articles, block, kept = store.read(r0, r1)
    if scorer is None:
        assert kept is not None
        scores = kept
    else:
        scores = scorer(articles, block, counts)
    at, known = table.rows(articles.astype(np.int64))
    sources = block[:, store.columns.index("best_source")].astype(np.int16)
    group = np.repeat(np.arange(hi - lo), counts)
    return grouped_top(group, hi - lo, articles, scores, sources, known & table.on_sale[at], K)


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
