"""Business rules between the ranker and the response: what may be shown, in which order.

No duplicates, nothing already in the cart, only articles still on sale; context lists (a
product page's similar items, a cart's bought-together items) interleaved with the personal
list, the context first; short lists topped up from the best sellers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One recommended article: its score (ranker or similarity) and the source that found it."""

    article_id: int
    score: float
    source: str


def allowed(
    items: Iterable[Item], exclude: set[int], on_sale: Callable[[int], bool]
) -> Iterator[Item]:
    """``items`` without excluded, not-on-sale or repeated articles, order kept."""
    seen = set(exclude)
    for item in items:
        if item.article_id not in seen and on_sale(item.article_id):
            seen.add(item.article_id)
            yield item


def interleave(context: list[Item], personal: list[Item], k: int) -> list[Item]:
    """Context and personal items alternately (context first), deduplicated, cut to ``k``."""
    out: list[Item] = []
    seen: set[int] = set()
    for pair in _zip_longest(context, personal):
        for item in pair:
            if item.article_id not in seen:
                seen.add(item.article_id)
                out.append(item)
    return out[:k]


def _zip_longest(a: list[Item], b: list[Item]) -> Iterator[tuple[Item, ...]]:
    """Pairs (a[i], b[i]) while both last, then the rest of the longer one as 1-tuples."""
    for i in range(max(len(a), len(b))):
        yield tuple(x[i] for x in (a, b) if i < len(x))


def top_up(items: list[Item], fallback: Iterable[Item], k: int) -> list[Item]:
    """``items`` then ``fallback`` articles not already listed, cut to ``k``."""
    out = list(items[:k])
    seen = {item.article_id for item in out}
    for item in fallback:
        if len(out) >= k:
            break
        if item.article_id not in seen:
            seen.add(item.article_id)
            out.append(item)
    return out
