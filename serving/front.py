"""The ASGI front of the API: context-free GETs from the answers ranked ahead, the rest to FastAPI.

``GET /recommendations/{customer_id}`` with no query or ``?k=`` up to :data:`K` is the hot
route (a home page). When the live state has its answers ranked ahead (:mod:`serving.answers`),
the front writes that customer's JSON straight away, byte for byte what the FastAPI route
writes for the same state (a test checks it); FastAPI's routing, validation and dependency
machinery cost more than that lookup. Everything else (malformed ids, larger ``k``, context,
``/docs``, lifespan) goes to the FastAPI app unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from recsys.data.ids import HEX_LEN, checked_key
from recsys.schema import K
from serving.model import ServingState

PREFIX = "/recommendations/"
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
HEADERS = [(b"content-type", b"application/json")]


class Front:
    """ASGI app: answers the hot route itself when it can, else hands over to ``app``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = self._answer(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        length = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": length + HEADERS})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: dict) -> bytes | None:
        """The body for a context-free GET answered ahead, or ``None`` (FastAPI's turn)."""
        path: str = scope["path"]
        if scope["method"] != "GET" or len(path) != len(PREFIX) + HEX_LEN:
            return None
        hex_id, k = path[len(PREFIX) :], _k(scope["query_string"])
        if not path.startswith(PREFIX) or not HEX_DIGITS.issuperset(hex_id) or k is None:
            return None
        recommender = getattr(self.app.state, "recommender", None)
        state: ServingState | None = None if recommender is None else recommender.state
        if state is None or state.answers is None:
            return None
        items = state.answers.items_json(checked_key(hex_id), k)
        return None if items is None else body(state, hex_id, items)


def body(state: ServingState, customer_hex: str, items: list[str]) -> bytes:
    """The :class:`serving.api.Recommendations` JSON around ready item JSON."""
    head = (
        f'{{"customer_id":"{customer_hex.lower()}","model_version":'
        f'{json.dumps(state.model.version)},"features_version":'
        f'{json.dumps(state.articles.version)},"items":['
    )
    return (head + ",".join(items) + "]}").encode()


def _k(query: bytes) -> int | None:
    """``k`` of a query that is empty or exactly ``k=N`` with 1 <= N <= :data:`K`, else None."""
    if not query:
        return K
    if not query.startswith(b"k=") or not query[2:].isdigit() or len(query) > 5:
        return None
    k = int(query[2:])
    return k if 1 <= k <= K else None
