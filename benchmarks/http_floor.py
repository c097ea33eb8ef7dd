"""The HTTP floor: the API's route answering a constant body of the same size, no work.

``uvicorn benchmarks.http_floor:app`` serves ``GET /recommendations/{customer_id}`` (and
``/health``) with a fixed 12-item answer shaped like the real one. Loaded exactly like
``hm serve``, it shows what FastAPI on uvicorn and the load generator cost on this machine
alone: the latency no ranking work can go below.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.responses import Response

ITEMS = [
    {"article_id": 700000000 + i, "score": 0.5, "rank": i + 1, "source": "twotower"}
    for i in range(12)
]
BODY = {"customer_id": "0" * 64, "model_version": "1", "features_version": "x", "items": ITEMS}

app = FastAPI(title="hm-recsys HTTP floor")


@app.get("/recommendations/{customer_id}")
async def recommendations(customer_id: str) -> Response:
    """The constant answer (the id is only echoed)."""
    body = {**BODY, "customer_id": customer_id}
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@app.get("/health")
async def health() -> dict:
    """Always up."""
    return {"status": "ok"}
