"""The bulk selection and rules give each customer the list of the per-customer functions:
ties, articles off sale, repeats, short lists, customers with nothing on sale."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys.schema import FALLBACK
from serving.bulk_lists import Lists, drop_repeats, first_seen_codes, grouped_top, top_up
from serving.model import ArticleTable
from serving.scoring import best_items, finish, popular_items

K = 12
SOURCES = ["als", "itemcf", "popular"]


def fake_state(rng: np.random.Generator, n_articles: int, n_popular: int) -> SimpleNamespace:
    """What :func:`best_items` and :func:`finish` read of a state: the article table (some
    articles off sale), the union's source names, the store's columns and the best sellers
    (with repeats and articles off sale)."""
    ids = np.sort(rng.choice(np.arange(100, 100 + 3 * n_articles), n_articles, replace=False))
    table = ArticleTable(
        "v", ids.astype(np.int64), np.zeros((n_articles, 0)), rng.random(n_articles) < 0.7
    )
    popular = pd.DataFrame({"article_id": rng.choice(ids, n_popular)})
    package = SimpleNamespace(union=SimpleNamespace(source_names=SOURCES), popular=popular)
    candidates = SimpleNamespace(columns=["x", "best_source"])
    return SimpleNamespace(
        articles=table, model=SimpleNamespace(package=package, candidates=candidates)
    )


def fake_chunk(rng: np.random.Generator, state: SimpleNamespace, n: int) -> tuple:
    """(counts, articles, block, scores) of ``n`` customers: few distinct scores (many ties),
    repeated articles, unknown articles, some customers with one or no candidate."""
    counts = rng.choice([0, 1, 3, 12, 30, 60], n)
    rows = int(counts.sum())
    known = state.articles.ids
    articles = np.where(rng.random(rows) < 0.95, rng.choice(known[:80], rows), 7).astype(np.int32)
    block = np.column_stack([rng.random(rows), rng.integers(0, len(SOURCES) + 1, rows)])
    scores = rng.integers(0, 6, rows) / 4.0  # float64, like the booster's
    return counts, articles, block.astype(np.float32), scores


def bulk(state: SimpleNamespace, counts, articles, block, scores) -> tuple[Lists, np.ndarray]:
    """The chunk's lists through :mod:`serving.bulk_lists`, and which rows had nothing on sale."""
    table = state.articles
    at, known = table.rows(articles.astype(np.int64))
    group = np.repeat(np.arange(len(counts)), counts)
    sources = block[:, 1].astype(np.int16)
    lists = grouped_top(group, len(counts), articles, scores, sources, known & table.on_sale[at], K)
    without = lists.lengths == 0
    on_sale = table.on_sale[np.searchsorted(table.ids, state.model.package.popular["article_id"])]
    fallback = pd.unique(state.model.package.popular["article_id"][on_sale])
    return top_up(drop_repeats(lists), fallback, len(SOURCES)), without


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_popular", [3, 40])
def test_every_list_is_the_per_customer_list(seed: int, n_popular: int) -> None:
    rng = np.random.default_rng(seed)
    state = fake_state(rng, 120, n_popular)
    counts, articles, block, scores = fake_chunk(rng, state, 300)
    lists, without = bulk(state, counts, articles, block, scores)
    names = [*SOURCES, FALLBACK]
    offsets = np.r_[0, np.cumsum(counts)]
    ties = 0
    for i in range(len(counts)):
        a, b = offsets[i], offsets[i + 1]
        personal = best_items(state, articles[a:b], block[a:b], scores[a:b], K)
        assert without[i] == (not personal)
        if not personal:  # the caller gives these their segment's list
            continue
        ties += len(personal) - len({item.score for item in personal})
        want = finish(state, personal, [], set(), K)
        n = int(lists.lengths[i])
        got = [
            (int(lists.articles[i, j]), float(lists.scores[i, j]), names[lists.sources[i, j]])
            for j in range(n)
        ]
        assert got == [(x.article_id, x.score, x.source) for x in want], i
        assert not lists.articles[i, n:].any() and not lists.scores[i, n:].any()
    assert without.any() and ties > 100  # the cases the test is about did occur
    assert (lists.lengths < K).any() == (n_popular == 3)  # too few best sellers: short lists


def test_popular_fallback_codes_and_scores() -> None:
    state = fake_state(np.random.default_rng(0), 50, 30)
    popular = [x.article_id for x in popular_items(state)]
    lists = top_up(Lists.empty(2, K), np.array(popular[:5]), 3)
    assert lists.lengths.tolist() == [5, 5] and lists.articles[0, :5].tolist() == popular[:5]
    assert (lists.sources[:, :5] == 3).all() and not lists.scores.any()


def test_sources_are_numbered_by_first_use() -> None:
    lists = Lists.empty(3, 4)
    lists.sources[:] = [[5, 2, 9, 9], [2, 7, 0, 0], [7, 5, 0, 0]]
    lists.lengths[:] = [2, 2, 1]
    codes, used = first_seen_codes(lists, 10)
    assert used.tolist() == [5, 2, 7]
    assert codes.tolist() == [[0, 1, 0, 0], [1, 2, 0, 0], [2, 0, 0, 0]]
