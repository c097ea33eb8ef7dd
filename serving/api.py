"""HTTP API over :class:`serving.recommender.Recommender` (FastAPI; OpenAPI page at ``/docs``).

``GET /recommendations/{customer_id}``, ``POST /recommendations`` (with ``cart`` and
``viewing``), ``GET /articles/{article_id}/similar``, ``GET /health``. Customer ids are Kaggle's
64-hex strings; a malformed id or an unknown article gets a 4xx naming the field, never a 500;
a well-formed but unknown customer gets cold-start recommendations. ``hm serve`` runs
:func:`create_server`: this app behind :class:`serving.front.Front`, which answers context-free
GETs from the answers ranked ahead (the same bytes as the route here).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from recsys.schema import K
from serving.front import Front
from serving.recommender import Recommender

HEX = r"^[0-9a-fA-F]{64}$"
CustomerId = Annotated[str, Path(pattern=HEX, description="Kaggle customer_id (64 hex digits).")]
TopK = Annotated[int, Query(ge=1, le=100, description="How many articles to return.")]


class Recommendation(BaseModel):
    """One recommended article."""

    article_id: int
    score: float
    rank: int
    source: str = Field(description="The retriever (or rule) that proposed the article.")


class Recommendations(BaseModel):
    """A ranked list and what produced it."""

    customer_id: str
    model_version: str
    features_version: str | None
    items: list[Recommendation]


class RecommendationRequest(BaseModel):
    """A customer with context: a product page being viewed and/or a cart."""

    customer_id: str = Field(pattern=HEX, description="Kaggle customer_id (64 hex digits).")
    k: int = Field(K, ge=1, le=100)
    cart: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list, max_length=200)
    viewing: int | None = Field(None, gt=0, description="Article on the product page.")


def create_app(recommender: Recommender | None = None, watch: bool = True) -> FastAPI:
    """The app; without ``recommender`` one is built from the settings at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from recsys.settings import get_settings

        settings = get_settings()
        app.state.recommender = recommender or Recommender(
            settings, refresh_s=settings.serve_refresh_s, on_sale_days=settings.on_sale_days
        )
        if watch:
            app.state.recommender.start()
        yield
        app.state.recommender.stop()

    app = FastAPI(title="hm-recsys", version="1", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, _invalid)
    _routes(app)
    return app


def create_server(recommender: Recommender | None = None, watch: bool = True) -> Front:
    """What ``hm serve`` runs: :func:`create_app` behind :class:`serving.front.Front`, which
    answers context-free GETs from the answers ranked ahead of time."""
    return Front(create_app(recommender, watch))


async def _invalid(_request, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable line per problem (``field: message (got value)``)."""
    problems = [f"{_field(e)}: {_message(e)} (got {e.get('input')!r})" for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": problems})


def _field(error: dict) -> str:
    """The field's dotted name without its location prefix (``path``, ``query``, ``body``)."""
    return ".".join(str(p) for p in error["loc"][1:]) or "body"


def _message(error: dict) -> str:
    """Pydantic's message, or a plainer one for a malformed customer id."""
    if error.get("type") == "string_pattern_mismatch":
        return "must be 64 hex characters (a Kaggle customer_id)"
    return str(error["msg"])


def _routes(app: FastAPI) -> None:
    """Register the endpoints on ``app``."""

    @app.get("/recommendations/{customer_id}", response_model=Recommendations)
    async def recommendations(customer_id: CustomerId, k: TopK = K) -> Response:
        """Top ``k`` for a customer (cold-start best sellers for an unknown one)."""
        return _answer(app.state.recommender, customer_id, k, [], None)

    @app.post("/recommendations", response_model=Recommendations)
    async def recommendations_in_context(request: RecommendationRequest) -> Response:
        """Top ``k`` given a cart (never shown, bought-together items) and a viewed article."""
        rec = app.state.recommender
        unknown = [a for a in [*request.cart, request.viewing] if a and not rec.knows_article(a)]
        if unknown:
            raise HTTPException(422, f"unknown article ids in cart/viewing: {unknown[:10]}")
        return _answer(rec, request.customer_id, request.k, request.cart, request.viewing)

    @app.get("/articles/{article_id}/similar", response_model=list[Recommendation])
    async def similar(article_id: Annotated[int, Path(gt=0)], k: TopK = K) -> list:
        """A product page's similar items."""
        rec = app.state.recommender
        if not rec.knows_article(article_id):
            raise HTTPException(404, f"unknown article_id {article_id}")
        return _items(rec.similar(article_id, k))

    @app.get("/health")
    async def health() -> dict:
        """Model version, feature freshness and what is loaded."""
        return app.state.recommender.health()


def _answer(
    rec: Recommender, customer_hex: str, k: int, cart: list[int], viewing: int | None
) -> Response:
    """Run the recommender and write its answer (the :class:`Recommendations` shape).

    The body is written directly: re-validating a response the server built itself through
    pydantic costs more than the JSON (``response_model`` still documents it in OpenAPI).
    """
    from recsys.data.ids import customer_key

    state = rec.state
    items = rec.recommend(customer_key(customer_hex), k, cart, viewing, state)
    body = {
        "customer_id": customer_hex.lower(),
        "model_version": state.model.version,
        "features_version": state.articles.version,
        "items": _items(items),
    }
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _items(items: list) -> list[dict]:
    """Response rows (the :class:`Recommendation` shape), ranked from 1."""
    return [
        {"article_id": i.article_id, "score": i.score, "rank": r, "source": i.source}
        for r, i in enumerate(items, start=1)
    ]
