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
from dataclasses import replace

import numpy as np

from recsys.features.online import OnlineFeatures
from recsys.features.store import Online
from recsys.retrieval.content import ContentRetriever
from recsys.retrieval.itemgraph import ItemGraphRetriever
from recsys.schema import K
from recsys.settings import Settings
from serving.answers import load_answers
from serving.model import ServingModel, ServingState, features_published, serving_state
from serving.rules import Item, allowed
from serving.scoring import best_items, cold_items, finish, on_sale_check, score_rows

log = logging.getLogger(__name__)
VIEWING, CART = "similar_to_viewed", "bought_with_cart"
ARTICLE_ID_MAX = int(np.iinfo(np.int32).max)  # schema.ARTICLE_ID is int32


class Recommender:
    """Top-k for a customer (and a context) from the live :class:`ServingState`."""

    def __init__(
        self,
        settings: Settings,
        online: Online | None = None,
        redis: str | None = None,
        refresh_s: float = 5.0,
        on_sale_days: int | None = 56,
        precompute: bool | None = None,
    ) -> None:
        """Load the champion, its candidates and the article table now.

        Raises :class:`~serving.model.NotPublished` naming the command to run when the weekly
        loop has not published a champion, its candidates or the online features yet.
        ``precompute`` (default: ``settings.serve_precompute``) answers context-free requests
        from the lists the loop ranked ahead for the state (:mod:`serving.answers`).
        """
        self.settings, self.refresh_s, self.on_sale_days = settings, refresh_s, on_sale_days
        self.precompute = settings.serve_precompute if precompute is None else precompute
        model = ServingModel.load(settings)
        features_published(settings, online, redis)
        self.reader = OnlineFeatures(settings, online, redis)  # request path: customer rows
        self.watched = OnlineFeatures(settings, online, redis, refresh_s=0)  # watcher: articles
        self.state = self._build(model)
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _build(self, model: ServingModel) -> ServingState:
        """A complete state for ``model`` (built by the watcher beside the live one)."""
        state = serving_state(model, self.watched, self.watched.customer(-1), self.on_sale_days)
        state = self._with_answers(state)
        if self.precompute and state.answers is None:
            log.warning("no answers ranked ahead for this state yet: GETs rank per request")
        return state

    def _with_answers(self, state: ServingState) -> ServingState:
        """``state`` with the answers the loop ranked ahead for it, if any (and wanted)."""
        if not self.precompute or state.answers is not None:
            return state
        answers = load_answers(self.settings.paths.answers, state.key)
        return state if answers is None else replace(state, answers=answers)

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

        Always ranks in real time (the state's precomputed answers serve HTTP GETs only).
        ``state`` defaults to the live one, read once: a swap never splits a request.
        """
        state = state or self.state
        exclude = {int(a) for a in [*cart, *([] if viewing is None else [viewing])]}
        wanted = k + len(exclude)
        personal = self._ranked(state, customer_id, wanted) or cold_items(
            state, customer_id, wanted
        )
        context = self._context(state, viewing, list(cart), k)
        return finish(state, personal, context, exclude, k)

    def _ranked(self, state: ServingState, customer_id: int, k: int) -> list[Item]:
        """The ranker's order over the customer's precomputed candidates (empty if none)."""
        articles, block = state.model.candidates.get(int(customer_id))
        if len(articles) == 0:
            return []
        customer = state.layout.customer_rows(self.reader.customer(int(customer_id)))
        # one thread: a request's 200 rows are too few to split
        scores = score_rows(state, articles, block, customer, threads=1)
        return best_items(state, articles, block, scores, k)

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
        return list(allowed(items, {int(article_id)}, on_sale_check(state)))[:k]

    def knows_article(self, article_id: int) -> bool:
        """True if the article is in the online store's article table."""
        return not self.unknown_articles([article_id])

    def unknown_articles(self, article_ids: Sequence[int]) -> list[int]:
        """The ids of ``article_ids`` not in the online store's article table, in order.

        An id outside ``1..ARTICLE_ID_MAX`` (article ids are int32) is unknown without a lookup,
        so no id, however large, overflows the table's int64 search.
        """
        ids = [int(a) for a in article_ids]
        in_range = [a for a in ids if 0 < a <= ARTICLE_ID_MAX]
        _, known = self.state.articles.rows(np.array(in_range, np.int64))
        found = {a for a, k in zip(in_range, known.tolist(), strict=True) if k}
        return [a for a in ids if a not in found]

    # -- live swaps ------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Swap in a new state if the champion or the materialization changed; True if swapped."""
        from recsys import registry

        state = self.state
        current = registry.version_by_alias(self.settings, registry.CHAMPION)
        changed_model = current is not None and str(current.version) != state.model.version
        self.watched.refresh()
        if not changed_model and self.watched.version == state.articles.version:
            return self._answers_arrived(state)
        model = (
            ServingModel.load(self.settings, str(current.version)) if changed_model else state.model
        )
        self.state = self._build(model)
        self.swaps += 1
        log.info("serving champion v%s on features %s", model.version, self.state.articles.version)
        return True

    def _answers_arrived(self, state: ServingState) -> bool:
        """Attach the answers the loop has published for the live state since it was built."""
        with_answers = self._with_answers(state)
        if with_answers is state:
            return False
        self.state = with_answers
        log.info("answers ranked ahead loaded for champion v%s", state.model.version)
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
            "answers_ranked_ahead": 0 if state.answers is None else len(state.answers.customers),
            "swaps": self.swaps,
        }


def _items(frame, source: str) -> list[Item]:
    """Items from an ``article_id, score`` frame (``None`` -> none)."""
    if frame is None or len(frame) == 0:
        return []
    return [
        Item(int(a), float(s), source)
        for a, s in zip(frame["article_id"], frame["score"], strict=True)
    ]
