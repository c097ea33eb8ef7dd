"""The union: quotas, dedup, per-source features, fusion, and the sources specification."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.history import History
from recsys.retrieval.sources import DEFAULT_SOURCES, parse_sources
from recsys.retrieval.union import RRF_K, UnionConfig, UnionRetriever

SOURCES = [
    {"kind": "repurchase", "quota": 15},
    {"kind": "popularity", "quota": 25, "name": "popular_age", "mode": "age_bucket"},
    {"kind": "popularity", "quota": 10, "name": "popular_week", "mode": "global"},
]


@pytest.fixture(scope="module")
def union(history: History) -> UnionRetriever:
    return UnionRetriever(sources=SOURCES, chunk_size=97).fit(history)


@pytest.fixture(scope="module")
def buyers(history: History) -> np.ndarray:
    return history.recent(21)[schema.CUSTOMER_ID].unique()[:150]


def test_union_holds_every_member_quota(union: UnionRetriever, buyers: np.ndarray) -> None:
    merged = union.retrieve(buyers, k=1000)
    keys = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    assert not merged.duplicated(keys).any()
    for spec in union.config.sources:
        own = union.members[spec.name].retrieve(buyers, spec.quota)
        joined = own.merge(merged, on=keys, how="left")
        assert joined[f"{spec.name}_rank"].notna().all()
        np.testing.assert_array_equal(
            joined[f"{spec.name}_rank"], own[schema.RANK].astype("float32")
        )
        np.testing.assert_allclose(joined[f"{spec.name}_score"], own[schema.SCORE])
    assert (merged.groupby(schema.CUSTOMER_ID).size() <= 15 + 25 + 10).all()


def test_union_fuses_by_reciprocal_rank(union: UnionRetriever, buyers: np.ndarray) -> None:
    merged = union.retrieve(buyers, k=1000)
    ranks = merged[[f"{n}_rank" for n in union.source_names]].to_numpy()
    expected = np.nansum(1.0 / (RRF_K + ranks), axis=1)
    np.testing.assert_allclose(merged[schema.SCORE], expected, rtol=1e-6)
    assert (merged["n_sources"] == np.isfinite(ranks).sum(axis=1)).all()
    best = np.array(union.source_names)[np.nanargmin(np.where(np.isnan(ranks), np.inf, ranks), 1)]
    assert (merged["best_source"].astype(str).to_numpy() == best).all()


def test_union_cut_to_k_keeps_the_best_fused(union: UnionRetriever, buyers: np.ndarray) -> None:
    full = union.retrieve(buyers, k=1000)
    cut = union.retrieve(buyers, k=12)
    assert (cut.groupby(schema.CUSTOMER_ID).size() <= 12).all()
    expected = full[full[schema.RANK] <= 12].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut, expected)


def test_chunking_does_not_change_the_answer(history: History, buyers: np.ndarray) -> None:
    one = UnionRetriever(sources=SOURCES, chunk_size=10_000).fit(history)
    many = UnionRetriever(sources=SOURCES, chunk_size=7).fit(history)
    pd.testing.assert_frame_equal(one.retrieve(buyers, 50), many.retrieve(buyers, 50))


def test_sources_are_validated() -> None:
    with pytest.raises(ValueError, match="unique"):
        parse_sources([{"kind": "repurchase", "quota": 1}, {"kind": "repurchase", "quota": 2}])
    with pytest.raises(ValueError, match="quota"):
        parse_sources([{"kind": "repurchase"}])
    with pytest.raises(ValueError, match="quota must be"):
        parse_sources([{"kind": "repurchase", "quota": 0}])
    assert len({s.name for s in DEFAULT_SOURCES}) == len(DEFAULT_SOURCES)


def test_candidate_order_matches_lexsort() -> None:
    from recsys.retrieval.base import candidate_order

    rng = np.random.default_rng(3)
    c = rng.integers(-5, 5, 5000).astype(np.int64) * 10**12
    s = rng.choice(np.array([-1.5, -0.0, 0.0, 0.25, 2.0, np.inf], np.float32), 5000)
    a = rng.integers(0, 50, 5000).astype(np.int32)
    expected = np.lexsort((a, -s, c))
    got = candidate_order(c, s, a)
    assert np.array_equal(c[got], c[expected]) and np.array_equal(a[got], a[expected])
    assert np.array_equal(s[got], s[expected])
    assert candidate_order(c[expected], s[expected], a[expected]) is None


def test_union_params_keep_the_flat_sources_form(union: UnionRetriever) -> None:
    params = union.params()
    assert params == {
        "name": "union",
        "sources": [
            {"kind": "repurchase", "quota": 15, "name": "repurchase"},
            {"kind": "popularity", "quota": 25, "name": "popular_age", "mode": "age_bucket"},
            {"kind": "popularity", "quota": 10, "name": "popular_week", "mode": "global"},
        ],
        "chunk_size": 97,
    }
    assert UnionRetriever(**params).config == union.config
    assert union.config == UnionConfig(sources=parse_sources(SOURCES), chunk_size=97)
    assert UnionRetriever().config.sources == DEFAULT_SOURCES


def test_union_members_are_checked_when_the_union_is_built() -> None:
    bad = [*SOURCES, {"kind": "repurchase", "quota": 5, "name": "old", "half_life": 3.0}]
    with pytest.raises(ValueError, match="source 'old'.*unknown parameter 'half_life'"):
        UnionRetriever(sources=bad)
    with pytest.raises(ValueError, match="'chunk_size' must be int"):
        UnionRetriever(sources=SOURCES, chunk_size=1.5)


@pytest.fixture(scope="module")
def default_union(history: History) -> UnionRetriever:
    return UnionRetriever(sources=DEFAULT_SOURCES, chunk_size=97).fit(history)


def test_nested_members_top_lists_are_prefixes_of_longer_ones(
    default_union: UnionRetriever, buyers: np.ndarray
) -> None:
    nested = [s for s in default_union.config.sources if default_union.members[s.name].nested]
    assert {s.kind for s in nested} == {
        "repurchase",
        "siblings",
        "cooccurrence",
        "itemcf",
        "useruser",
    }
    for spec in nested:
        member = default_union.members[spec.name]
        longest = member.retrieve(buyers, 200)
        for q in (1, 12, spec.quota):
            short = longest[longest[schema.RANK] <= q].reset_index(drop=True)
            pd.testing.assert_frame_equal(short, member.retrieve(buyers, q))


def test_lists_kept_from_the_union_call_are_each_member_own(
    default_union: UnionRetriever, buyers: np.ndarray
) -> None:
    merged, lists = default_union.retrieve_with_lists(buyers, 200, 200)
    pd.testing.assert_frame_equal(merged, default_union.retrieve(buyers, 200))
    assert list(lists) == default_union.source_names
    for name, member in default_union.members.items():
        pd.testing.assert_frame_equal(lists[name], member.retrieve(buyers, 200))


def test_lists_shorter_than_a_quota_are_cut_from_it(
    default_union: UnionRetriever, buyers: np.ndarray
) -> None:
    merged, lists = default_union.retrieve_with_lists(buyers, 60, 12)
    pd.testing.assert_frame_equal(merged, default_union.retrieve(buyers, 60))
    for name, member in default_union.members.items():
        pd.testing.assert_frame_equal(lists[name], member.retrieve(buyers, 12))
