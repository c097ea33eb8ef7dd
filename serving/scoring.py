"""What one serving state does with a customer's candidates: score, order, apply the rules.

Shared by the per-request path (:class:`serving.recommender.Recommender`) and the bulk one
(:mod:`serving.answers`), so both give the same list for the same customer: the bulk path only
batches the expensive parts (customer rows, feature matrix, booster) over many customers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys.ranking.coldstart import dormant_recommendations
from recsys.schema import FALLBACK
from serving.assemble import assemble
from serving.model import ServingState
from serving.rules import Item, allowed, interleave, top_up


def score_rows(
    state: ServingState, articles: np.ndarray, block: np.ndarray, customer: np.ndarray, threads: int
) -> np.ndarray:
    """The ranker's score of each candidate row (``customer``: one row, or one per candidate)."""
    table = state.articles
    rows, known = table.rows(np.asarray(articles, np.int64))
    art = table.matrix[rows]
    art[~known] = np.nan
    matrix = assemble(state.layout, np.asarray(block), customer, art)
    return state.model.package.ranker.predict(matrix, threads)


def best_items(
    state: ServingState, articles: np.ndarray, block: np.ndarray, scores: np.ndarray, k: int
) -> list[Item]:
    """The ``k`` best-scored candidates on sale (ties: lower article id first), with sources."""
    table = state.articles
    rows, known = table.rows(np.asarray(articles, np.int64))
    order = np.lexsort((articles, -scores))
    order = order[(known & table.on_sale[rows])[order]][:k]
    names = [*state.model.package.union.source_names, FALLBACK]
    codes = block[order, state.model.candidates.columns.index("best_source")]
    return [
        Item(int(articles[i]), float(np.float32(scores[i])), names[int(c)])
        for i, c in zip(order, codes, strict=True)
    ]


def cold_items(state: ServingState, customer_id: int, k: int) -> list[Item]:
    """Age-bucket best sellers for a customer without candidates (unknown or dormant)."""
    package = state.model.package
    frame = dormant_recommendations(package.union, package.popular, np.array([customer_id]), k)
    return [
        Item(int(a), float(s) if s == s else 0.0, str(src))
        for a, s, src in zip(frame["article_id"], frame["score"], frame["source"], strict=True)
    ]


def finish(
    state: ServingState, personal: list[Item], context: list[Item], exclude: set[int], k: int
) -> list[Item]:
    """The business rules: on sale, not excluded, no repeats, context first, best-seller top-up."""
    on_sale = on_sale_check(state)
    personal = list(allowed(personal, exclude, on_sale))
    context = list(allowed(context, exclude, on_sale))
    items = interleave(context, personal, k) if context else personal[:k]
    return top_up(items, allowed(popular_items(state), exclude, on_sale), k)


def on_sale_check(state: ServingState) -> Callable[[int], bool]:
    """A predicate: is this article on sale in ``state``'s article table?"""
    table = state.articles

    def check(article_id: int) -> bool:
        i = int(np.searchsorted(table.ids, article_id))
        return i < len(table.ids) and table.ids[i] == article_id and bool(table.on_sale[i])

    return check


def popular_items(state: ServingState) -> list[Item]:
    """The package's best sellers as fallback items."""
    popular = state.model.package.popular
    return [Item(int(a), 0.0, FALLBACK) for a in popular["article_id"]]
