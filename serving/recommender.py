"""The online recommender: the MLflow champion ranking Feast online features, swapped live.

A request reads the customer's precomputed candidates (written by the batch), their row of the
online store, the article table (every article's online features, encoded once per
materialization), scores with the champion's booster and applies the business rules. Context
adds real-time candidates: similar items for the article being viewed, items bought together
with the cart. Unknown and dormant customers get their age bucket's best sellers, as in batch.

A watcher thread polls the registry alias and the online store's stamp every ``refresh_s``
seconds; on a change it builds a complete new :class:`ServingState` beside the live one and
swaps the reference. Requests in flight finish on the state they started with; none is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import numpy as np

from recsys.features.online import OnlineFeatures
from recsys.features.store import Online
from recsys.ranking.batch import dormant_recommendations
from recsys.ranking.package import FALLBACK
from recsys.ranking.recommend import K
from recsys.retrieval.content import ContentRetriever
from recsys.retrieval.itemgraph import ItemGraphRetriever
from recsys.settings import Settings
from serving.assemble import assemble
from serving.model import ServingModel, ServingState, serving_state
from serving.rules import Item, allowed, interleave, top_up

log = logging.getLogger(__name__)
VIEWING, CART = "similar_to_viewed", "bought_with_cart"


class Recommender:
    """Top-k for a customer (and a context) from the live :class:`ServingState`."""

    def __init__(
        self,
        settings: Settings,
        online: Online | None = None,
        redis: str | None = None,
        refresh_s: float = 5.0,
        on_sale_days: int | None = 56,
    ) -> None:
        """Load the champion and the article table now (raises :class:`NoChampion` if none)."""
        self.settings, self.refresh_s, self.on_sale_days = settings, refresh_s, on_sale_days
        self.reader = OnlineFeatures(settings, online, redis)  # request path: customer rows
        self.watched = OnlineFeatures(settings, online, redis, refresh_s=0)  # watcher: articles
        self.state = self._build(ServingModel.load(settings))
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _build(self, model: ServingModel) -> ServingState:
        probe = self.reader.customer(-1)
        return serving_state(model, self.watched, probe, self.on_sale_days)

    # -- requests --------------------------------------------------------------------------------
    def recommend(
        self,
        customer_id: int,
        k: int = K,
        cart: Sequence[int] = (),
        viewing: int | None = None,
        state: ServingState | None = None,
    ) -> list[Item]:
        """Top ``k`` for ``customer_id``; ``cart`` and ``viewing`` are never shown, context leads.

        ``state`` defaults to the live one, read once: a swap never splits a request.
        """
        state = state or self.state
        exclude = {int(a) for a in [*cart, *([] if viewing is None else [viewing])]}
        on_sale = _on_sale(state)
        wanted = k + len(exclude)
        personal = self._ranked(state, customer_id, wanted) or self._cold(
            state, customer_id, wanted
        )
        personal = list(allowed(personal, exclude, on_sale))
        context = list(allowed(self._context(state, viewing, list(cart), k), exclude, on_sale))
        items = interleave(context, personal, k) if context else personal[:k]
        return top_up(items, allowed(_popular(state), exclude, on_sale), k)

    def _ranked(self, state: ServingState, customer_id: int, k: int) -> list[Item]:
        """The ranker's order over the customer's precomputed candidates (empty if none)."""
        articles, block = state.model.candidates.get(int(customer_id))
        if len(articles) == 0:
            return []
        layout, table = state.layout, state.articles
        rows, known = table.rows(np.asarray(articles, np.int64))
        art = table.matrix[rows]
        art[~known] = np.nan
        customer = layout.customer_row(self.reader.customer(int(customer_id)))
        matrix = assemble(layout, np.asarray(block), customer, art)
        ranker = state.model.package.ranker
        scores = ranker.booster.predict(  # one thread: a request's 200 rows are too few to split
            matrix, num_iteration=ranker.best_iteration or None, num_threads=1
        )
        order = np.lexsort((articles, -scores))
        order = order[(known & table.on_sale[rows])[order]][:k]  # on sale, best first
        names = [*state.model.package.union.source_names, FALLBACK]
        codes = block[order, state.model.candidates.columns.index("best_source")]
        return [
            Item(int(articles[i]), float(np.float32(scores[i])), names[int(c)])
            for i, c in zip(order, codes, strict=True)
        ]

    def _cold(self, state: ServingState, customer_id: int, k: int) -> list[Item]:
        """Age-bucket best sellers for a customer without candidates (unknown or dormant)."""
        package = state.model.package
        frame = dormant_recommendations(package.union, package.popular, np.array([customer_id]), k)
        return [
            Item(int(a), float(s) if s == s else 0.0, str(src))
            for a, s, src in zip(frame["article_id"], frame["score"], frame["source"], strict=True)
        ]

    def _context(
        self, state: ServingState, viewing: int | None, cart: list[int], k: int
    ) -> list[Item]:
        """Similar items for ``viewing``, then items bought together with ``cart``."""
        members = list(state.model.package.union.members.values())
        graph = next((m for m in members if isinstance(m, ItemGraphRetriever)), None)
        content = next((m for m in members if isinstance(m, ContentRetriever)), None)
        items: list[Item] = []
        if viewing is not None:
            if content is not None:
                found = content.similar(int(viewing), k)
            elif graph is not None:
                found = graph.related([int(viewing)], k)
            else:
                found = None
            items += _items(found, VIEWING)
        if cart and graph is not None:
            items += _items(graph.related(cart, k), CART)
        return items

    def similar(self, article_id: int, k: int = K) -> list[Item]:
        """A product page's similar items (on sale, the article itself excluded)."""
        state = self.state
        items = self._context(state, int(article_id), [], k)
        return list(allowed(items, {int(article_id)}, _on_sale(state)))[:k]

    def knows_article(self, article_id: int) -> bool:
        """True if the article is in the online store's article table."""
        _, known = self.state.articles.rows(np.array([article_id], np.int64))
        return bool(known[0])

    # -- live swaps ------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Swap in a new state if the champion or the materialization changed; True if swapped."""
        from recsys import registry

        state = self.state
        current = registry.version_by_alias(self.settings, registry.CHAMPION)
        changed_model = current is not None and str(current.version) != state.model.version
        self.watched.refresh()
        if not changed_model and self.watched.version == state.articles.version:
            return False
        model = ServingModel.load(self.settings) if changed_model else state.model
        self.state = self._build(model)
        self.swaps += 1
        log.info("serving champion v%s on features %s", model.version, self.state.articles.version)
        return True

    def start(self) -> None:
        """Start the watcher thread (daemon) that calls :meth:`refresh` every ``refresh_s``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="hm-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception:  # keep serving the old state; try again next round
                log.exception("refresh failed; the live state stays")
            time.sleep(0)

    def health(self) -> dict:
        """Model version and cutoff, feature freshness, candidates available."""
        state = self.state
        stamp = state.articles.version or ""
        return {
            "status": "ok",
            "model_version": state.model.version,
            "model_cutoff": str(state.model.package.cutoff),
            "features_version": stamp,
            "features_cutoff": stamp.split("@")[0] or None,
            "customers_with_candidates": int(len(state.model.candidates.customers)),
            "articles": int(len(state.articles.ids)),
            "articles_on_sale": int(state.articles.on_sale.sum()),
            "swaps": self.swaps,
        }


def _on_sale(state: ServingState):
    """A predicate: is this article on sale in ``state``'s article table?"""
    table = state.articles

    def check(article_id: int) -> bool:
        i = int(np.searchsorted(table.ids, article_id))
        return i < len(table.ids) and table.ids[i] == article_id and bool(table.on_sale[i])

    return check


def _popular(state: ServingState) -> list[Item]:
    """The package's best sellers as fallback items."""
    popular = state.model.package.popular
    return [Item(int(a), 0.0, FALLBACK) for a in popular["article_id"]]


def _items(frame, source: str) -> list[Item]:
    """Items from an ``article_id, score`` frame (``None`` -> none)."""
    if frame is None or len(frame) == 0:
        return []
    return [
        Item(int(a), float(s), source)
        for a, s in zip(frame["article_id"], frame["score"], strict=True)
    ]
