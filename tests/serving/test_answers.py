"""Answers ranked ahead per state: the same lists as ranking in real time, for every customer.

The weekly loop ranks them when it publishes (``serving.ahead``); servers only load them."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from recsys.data.ids import customer_key
from recsys.ranking.candidate_store import CandidateStore
from recsys.schema import K
from recsys.settings import Settings
from serving.ahead import CHUNK, precompute, ranked_ahead, render_items, scored_by_batch
from serving.answers import Answers, segment_of
from serving.api import _items
from serving.model import ArticleTable
from serving.recommender import Recommender
from serving.scoring import cold_items, finish
from tests.serving.test_recommender import UNKNOWN


@pytest.fixture(scope="module")
def rec(served: Settings) -> Recommender:
    """On-sale window on, so that the rules filter and top up some lists; this state's answers
    are ranked ahead after the recommender was built, and its next refresh picks them up."""
    rec = Recommender(served, on_sale_days=21)
    assert rec.state.answers is None  # the loop published the answers of its own on-sale set
    ranked_ahead(rec.state, rec.watched, 1, served.paths.answers)
    assert rec.refresh() and rec.state.answers is not None
    return rec


def test_the_loop_published_the_answers_of_the_default_state(served: Settings) -> None:
    rec = Recommender(served, on_sale_days=served.on_sale_days)
    assert rec.state.answers is not None
    assert rec.health()["answers_ranked_ahead"] == len(rec.state.model.candidates.customers)


def test_the_batch_scores_rank_the_answers_the_online_features_would(rec: Recommender) -> None:
    """The loop's batch scored the candidates over the snapshots it then put online: the answers
    reuse its scores, and ranking over the online features instead gives the same answers."""
    state = rec.state
    store = state.model.candidates
    assert scored_by_batch(state) and store.scores is not None
    unscored = replace(store, scores=None)
    read = replace(state, model=replace(state.model, candidates=unscored), answers=None)
    assert not scored_by_batch(read)
    kept, ranked = precompute(state, rec.watched, 1), precompute(read, rec.watched, 1)
    for name in ("customers", "articles", "scores", "sources", "lengths"):
        assert np.array_equal(getattr(kept, name), getattr(ranked, name)), name


def test_answers_ranked_on_a_dask_cluster_are_those_ranked_here(rec: Recommender, cluster) -> None:
    """A chunk a task: each worker reads its chunk from the store's folder and finishes it."""
    from recsys.parallel import Parallel

    state = replace(rec.state, answers=None)
    assert scored_by_batch(state) and len(state.model.candidates.customers) > CHUNK  # chunks
    here, there = (
        precompute(state, rec.watched, 1),
        precompute(state, rec.watched, Parallel(client=cluster)),
    )
    for name in ("customers", "articles", "scores", "sources", "lengths", "names", "cold"):
        want, got = getattr(here, name), getattr(there, name)
        assert got == want if isinstance(want, dict) else np.array_equal(got, want), name


def test_scores_over_other_features_than_those_online_are_not_reused(rec: Recommender) -> None:
    state = rec.state
    store = state.model.candidates
    stale = replace(store, meta={**store.meta, "features": "2020-09-09@an-older-lake"})
    assert not scored_by_batch(replace(state, model=replace(state.model, candidates=stale)))


def test_scores_of_another_ranker_over_the_same_candidates_are_not_reused(
    rec: Recommender,
) -> None:
    """Candidate stores are per union and cutoff: another model's batch may have scored them."""
    state = rec.state
    store = state.model.candidates
    other = replace(store, meta={**store.meta, "ranker": "another-ranker"})
    assert not scored_by_batch(replace(state, model=replace(state.model, candidates=other)))


def real_time(rec: Recommender, customer_id: int, k: int, state=None) -> str:
    """The items JSON of a real-time ranking (on ``state``, default the live one), as the API
    writes it."""
    items = rec.recommend(customer_id, k, state=state)
    return json.dumps(_items(items), separators=(",", ":"))


def ahead(answers: Answers, customer_id: int, k: int) -> str:
    """The items JSON answered ahead."""
    items = answers.items_json(customer_id, k)
    return "MISSING" if items is None else "[" + ",".join(items) + "]"


def test_every_customer_gets_the_real_time_list(rec: Recommender) -> None:
    answers = rec.state.answers
    assert answers is not None
    store = rec.state.model.candidates
    assert len(store.customers) > 100
    for cid in [*store.customers, customer_key(UNKNOWN), customer_key("0" * 64)]:
        assert ahead(answers, int(cid), K) == real_time(rec, int(cid), K), cid
    assert (answers.lengths == K).all()  # every list full, topped up where the rules cut it


def test_a_customer_without_candidates_gets_their_age_buckets_list(rec: Recommender) -> None:
    state, answers = rec.state, rec.state.answers
    assert answers is not None and len(answers.cold) > 2  # the global list and age buckets
    for code, want in answers.cold.items():
        members = answers.segment_ids[answers.segment_codes == code][:15]
        for cid in members:  # customers of the bucket as if they had no candidates
            items = finish(state, cold_items(state, int(cid), K), [], set(), K)
            assert tuple(render_items(items)) == want, (code, cid)


def test_a_smaller_k_is_the_same_prefix_as_ranking_for_it(rec: Recommender) -> None:
    answers = rec.state.answers
    assert answers is not None
    for cid in [*rec.state.model.candidates.customers[:20], customer_key(UNKNOWN)]:
        for k in (1, 5):
            assert ahead(answers, int(cid), k) == real_time(rec, int(cid), k)
    assert answers.items_json(int(rec.state.model.candidates.customers[0]), K + 1) is None


def test_the_rules_hold_in_every_answer(rec: Recommender) -> None:
    answers = rec.state.answers
    assert answers is not None
    on_sale = set(rec.state.articles.ids[rec.state.articles.on_sale].tolist())
    for row, length in zip(answers.articles, answers.lengths, strict=True):
        listed = row[:length].tolist()
        assert len(set(listed)) == len(listed) and set(listed) <= on_sale


def test_precompute_off_leaves_no_answers(served: Settings) -> None:
    rec = Recommender(served, on_sale_days=None, precompute=False)
    assert rec.state.answers is None and rec.health()["answers_ranked_ahead"] == 0


def test_answers_are_written_once_per_state_and_shared(served: Settings, rec: Recommender) -> None:
    root = served.paths.answers
    key = rec.state.key
    folder = root / key
    written = folder.stat().st_mtime_ns
    again = Recommender(served, on_sale_days=21)  # a restart, or a second worker: loads them
    assert again.state.key == key and folder.stat().st_mtime_ns == written
    assert again.state.answers is not None
    for name in ("customers", "articles", "scores", "sources", "lengths"):
        assert np.array_equal(getattr(again.state.answers, name), getattr(rec.state.answers, name))
    other = Recommender(served, on_sale_days=None)  # another on-sale set: another state
    assert other.state.key != key and other.state.answers is None
    assert not (root / other.state.key).exists()  # a server never ranks ahead itself


def test_customers_with_nothing_on_sale_get_the_real_time_list(rec: Recommender) -> None:
    """Every candidate of three customers taken off sale (and some best sellers with them):
    those customers get their bucket's list, as a request would; everyone else's list is still
    the real-time one, ranked, filtered and topped up alike (some lists stay short)."""
    state = rec.state
    store = state.model.candidates
    off = np.unique(np.asarray(store.articles[: store.offsets[3]]))
    table = state.articles
    sold = replace(table, on_sale=table.on_sale & ~np.isin(table.ids, off))
    state = replace(state, articles=sold, answers=None)
    answers = precompute(state, rec.watched, 1)
    nothing = [int(c) for i, c in enumerate(store.customers) if not on_sale(sold, store, i).any()]
    assert len(nothing) >= 3 and (answers.lengths < K).any()  # few best sellers left on sale
    for cid in [*store.customers, customer_key(UNKNOWN)]:
        assert ahead(answers, int(cid), K) == real_time(rec, int(cid), K, state), cid
    for cid in nothing:
        code = segment_of(answers.segment_ids, answers.segment_codes, cid)
        assert tuple(answers.items_json(cid, K) or ()) == answers.cold[code], cid


def on_sale(table: ArticleTable, store: CandidateStore, i: int) -> np.ndarray:
    """Which of store customer ``i``'s candidates are on sale in ``table``."""
    rows, known = table.rows(np.asarray(store.articles[store.offsets[i] : store.offsets[i + 1]]))
    return known & table.on_sale[rows]
