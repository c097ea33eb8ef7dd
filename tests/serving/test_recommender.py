"""The in-process recommender on a real Feast online store (SQLite, Redis) and MLflow registry."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import registry, schema
from recsys.data.lake import Lake
from recsys.ranking.candidate_store import CandidateStore, CandidateStoreWriter
from recsys.ranking.submission import read_submission
from recsys.schema import FALLBACK
from recsys.settings import Settings
from serving.recommender import CART, VIEWING, Recommender
from serving.rules import Item, allowed, interleave, top_up
from tests.conftest import redis_db
from tests.serving.conftest import REDIS

UNKNOWN = "f" * 63 + "e"


def submission(settings: Settings) -> pd.DataFrame:
    """The batch's lists with int64 keys: customer_id, hex, [article ids]."""
    (path,) = settings.paths.submissions.glob("*.csv")
    sub = read_submission(path)
    lake = Lake(settings.paths.lake)
    ids = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID, schema.CUSTOMER_HEX]).to_pandas()
    sub = sub.merge(ids, left_on="customer_id", right_on=schema.CUSTOMER_HEX, suffixes=("_hex", ""))
    sub["articles"] = sub["prediction"].str.split(" ").map(lambda xs: [int(x) for x in xs])
    return sub


@pytest.fixture(scope="module")
def rec(served: Settings) -> Recommender:
    return Recommender(served, on_sale_days=None)


def test_answers_equal_the_batch_ranking_for_the_same_customers(served, rec) -> None:
    sub = submission(served).sample(60, random_state=0)
    store = rec.state.model.candidates
    ranked = 0
    for cid, want in zip(sub[schema.CUSTOMER_ID], sub["articles"], strict=True):
        got = [item.article_id for item in rec.recommend(int(cid))]
        assert got == want, cid
        ranked += len(store.get(int(cid))[0]) > 0
    assert ranked > 30  # most of them went through the ranker, not the cold-start path


def test_scores_come_from_the_champion_ranker_over_the_batch_features(served, rec) -> None:
    from recsys.ranking.features import SnapshotFeatures

    state = rec.state
    cid = int(state.model.candidates.customers[3])
    frame = SnapshotFeatures(served, state.model.package.cutoff)(state.model.candidates.frame(cid))
    want = np.sort(state.model.package.ranker.score(frame).astype(np.float32))[::-1][:12]
    got = [item.score for item in rec.recommend(cid)]
    assert np.allclose(got, want, rtol=0, atol=0)


def test_an_unknown_customer_gets_best_sellers_not_an_error(rec) -> None:
    from recsys.data.ids import customer_key

    items = rec.recommend(customer_key(UNKNOWN))
    assert len(items) == 12 and len({i.article_id for i in items}) == 12
    assert {i.source for i in items} <= {"popular_age", FALLBACK}


def test_the_cart_is_never_shown_and_brings_bought_together_items(rec) -> None:
    cid = int(rec.state.model.candidates.customers[0])
    first = [i.article_id for i in rec.recommend(cid)]
    cart = first[:3]
    items = rec.recommend(cid, cart=cart)
    ids = [i.article_id for i in items]
    assert len(ids) == 12 == len(set(ids)) and not set(cart) & set(ids)
    assert CART in {i.source for i in items}


def test_a_viewed_article_leads_with_similar_items(rec) -> None:
    cid = int(rec.state.model.candidates.customers[0])
    viewing = int(rec.state.model.candidates.get(cid)[0][0])
    items = rec.recommend(cid, viewing=viewing)
    assert items[0].source == VIEWING and viewing not in [i.article_id for i in items]
    similar = rec.similar(viewing)
    assert similar and all(i.article_id != viewing for i in similar)


def test_an_article_id_outside_int32_is_unknown_not_an_overflow(rec) -> None:
    known = int(rec.state.articles.ids[0])
    assert rec.knows_article(known) and not rec.knows_article(2**63)
    hostile = [2**63, -(2**63) - 1, 2**31, 0, -1, 10**30]
    assert rec.unknown_articles([known, *hostile, known]) == hostile


def test_only_articles_on_sale_are_recommended(served, rec) -> None:
    strict = Recommender(served, on_sale_days=7)
    table = strict.state.articles
    assert 0 < table.on_sale.sum() < len(table.ids)
    on_sale = set(table.ids[table.on_sale].tolist())
    for cid in rec.state.model.candidates.customers[:20]:
        assert {i.article_id for i in strict.recommend(int(cid))} <= on_sale


def test_health_reports_model_and_feature_freshness(rec) -> None:
    health = rec.health()
    assert health["model_version"] == "1"
    assert health["features_cutoff"] == health["model_cutoff"]
    assert health["customers_with_candidates"] > 0 and health["articles_on_sale"] > 0


def test_redis_online_store_gives_the_same_answers(served, rec) -> None:
    from recsys.features import materialize, store

    client = redis_db(14)
    try:
        store.apply(served, "redis", REDIS)
        materialize.materialize(
            served, rec.state.model.package.cutoff, "redis", REDIS, progress=False
        )
        on_redis = Recommender(served, online="redis", redis=REDIS, on_sale_days=None)
        for cid in rec.state.model.candidates.customers[:25]:
            assert on_redis.recommend(int(cid)) == rec.recommend(int(cid))
    finally:
        client.flushdb()


def test_a_champion_swap_under_load_drops_no_request(served) -> None:
    live = Recommender(served, refresh_s=0.05, on_sale_days=None)
    cids = [int(c) for c in live.state.model.candidates.customers[:50]]
    results, errors, stop = [], [], threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            for cid in cids:
                try:
                    state = live.state
                    results.append((state.model.version, len(live.recommend(cid, state=state))))
                except Exception as e:  # noqa: BLE001 (the test counts them)
                    errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    live.start()
    try:
        v1 = registry.version_by_alias(served, registry.CHAMPION)
        client = registry.client(served)
        v2 = client.create_model_version(registry.MODEL_NAME, v1.source, v1.run_id)
        registry.set_alias(served, registry.CHAMPION, v2.version)
        for _ in range(400):
            if live.state.model.version == str(v2.version):
                break
            threading.Event().wait(0.05)
        threading.Event().wait(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
        live.stop()
        registry.set_alias(served, registry.CHAMPION, v1.version)
    assert not errors
    versions = {v for v, _ in results}
    assert versions == {"1", str(v2.version)} and all(n == 12 for _, n in results)
    assert live.health()["swaps"] >= 1


def test_candidate_store_round_trip(tmp_path: Path) -> None:
    writer = CandidateStoreWriter(tmp_path / "store")
    writer.append(
        pd.DataFrame(
            {"customer_id": [5, 3, 3], "article_id": [7, 8, 9], "score": [0.5, 0.25, 0.125]}
        )
    )
    writer.append(pd.DataFrame({"customer_id": [9], "article_id": [1], "score": [1.0]}))
    store = CandidateStore.open(writer.close({"cutoff": "2020-09-16"}))
    assert store.get(3)[0].tolist() == [8, 9] and store.get(3)[1][:, 0].tolist() == [0.25, 0.125]
    assert store.get(9)[0].tolist() == [1] and len(store.get(4)[0]) == 0
    with pytest.raises(ValueError, match="ascending"):
        w = CandidateStoreWriter(tmp_path / "bad")
        w.append(pd.DataFrame({"customer_id": [5], "article_id": [1], "score": [1.0]}))
        w.append(pd.DataFrame({"customer_id": [2], "article_id": [1], "score": [1.0]}))


def test_rules_dedupe_exclude_interleave_and_top_up() -> None:
    a, b, c, d = (Item(i, 1.0, "x") for i in (1, 2, 3, 4))
    assert list(allowed([a, b, a, c], {2}, lambda i: i != 3)) == [a]
    assert [i.article_id for i in interleave([c, d], [a, c, b], 4)] == [3, 1, 4, 2]
    assert [i.article_id for i in top_up([a], [a, b, c], 2)] == [1, 2]
