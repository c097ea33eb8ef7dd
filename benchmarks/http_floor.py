"""The HTTP floor: the API's route answering a constant body of the same size, no work.

Two apps serve ``GET /recommendations/{customer_id}`` (any other path: ``{"status": "ok"}``,
so ``/health`` answers) with a fixed 12-item answer shaped like the real one, the id echoed:

- ``benchmarks.http_floor:app``: on FastAPI, as ``hm serve`` is;
- ``benchmarks.http_floor:bare``: a bare ASGI callable, no routing, validation or response
  machinery.

Loaded exactly like ``hm serve`` (``uvicorn benchmarks.http_floor:app``), they show what the
web stack and the load generator cost on this machine alone: the latency no ranking work can
go below.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.responses import Response

ITEMS = [
    {"article_id": 700000000 + i, "score": 0.5, "rank": i + 1, "source": "twotower"}
    for i in range(12)
]
HEADERS = [(b"content-type", b"application/json")]


def body(customer_id: str) -> bytes:
    """The constant answer for ``customer_id``."""
    answer = {"customer_id": customer_id, "model_version": "1", "features_version": "x"}
    return json.dumps({**answer, "items": ITEMS}, separators=(",", ":")).encode()


app = FastAPI(title="hm-recsys HTTP floor")


@app.get("/recommendations/{customer_id}")
async def recommendations(customer_id: str) -> Response:
    """The constant answer."""
    return Response(body(customer_id), media_type="application/json")


@app.get("/health")
async def health() -> dict:
    """Always up."""
    return {"status": "ok"}


async def bare(scope: dict, receive, send) -> None:
    """The same answers as a bare ASGI app."""
    if scope["type"] != "http":
        return
    head, _, customer_id = scope["path"].rpartition("/")
    content = body(customer_id) if head == "/recommendations" else b'{"status":"ok"}'
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": content})
