"""HTTP API over :class:`serving.recommender.Recommender` (FastAPI; OpenAPI page at ``/docs``).

``GET /recommendations/{customer_id}``, ``POST /recommendations`` (with ``cart`` and
``viewing``), ``GET /articles/{article_id}/similar``, ``GET /health``. Customer ids are Kaggle's
64-hex strings in either case (answered lowercased); article ids are positive int32 (Kaggle's
zero-padded ``"0108775015"`` is read as 108775015). Malformed input gets a 422, an unknown article
on ``/similar`` a 404, both with the documented :class:`Error` body (one readable line per
problem), never a 500; every status a route returns is in its OpenAPI ``responses``. A
well-formed but unknown customer gets cold-start recommendations. ``hm serve`` runs
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
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys.schema import K
from serving.front import Front
from serving.recommender import ARTICLE_ID_MAX, Recommender

HEX = r"^[0-9a-fA-F]{64}$"  # what recsys.data.ids.customer_key accepts (it lowercases)
CUSTOMER_DOC = "Kaggle customer_id: 64 hex digits, either case (answered lowercased)."
ARTICLE_DOC = (
    f"H&M article_id: a positive int32 (at most {ARTICLE_ID_MAX}); Kaggle's zero-padded "
    "string form ('0108775015') is read as the same number."
)
K_MAX = 100
SHOWN = 60  # characters of a rejected value quoted back in an error line

CustomerId = Annotated[str, Path(pattern=HEX, description=CUSTOMER_DOC)]
TopK = Annotated[int, Query(ge=1, le=K_MAX, description="How many articles to return.")]
ArticleId = Annotated[int, Field(ge=1, le=ARTICLE_ID_MAX, description=ARTICLE_DOC)]
ArticlePath = Annotated[int, Path(ge=1, le=ARTICLE_ID_MAX, description=ARTICLE_DOC)]


class Error(BaseModel):
    """The body of every error response (400, 404, 422; the router's 404, 405): one readable
    line per problem."""

    detail: list[str] = Field(
        description="One line per problem, e.g. `k: Input should be less than or equal to 100 "
        "(got 500)`.",
        min_length=1,
    )


INVALID = {422: {"model": Error, "description": "Malformed input (each bad field named)."}}
UNREADABLE = {400: {"model": Error, "description": "The body could not be read (not UTF-8)."}}
UNKNOWN_ARTICLE = {404: {"model": Error, "description": "The article is not in the catalogue."}}


class Recommendation(BaseModel):
    """One recommended article."""

    article_id: int
    score: float
    rank: int = Field(ge=1)
    source: str = Field(description="The retriever (or rule) that proposed the article.")


class Recommendations(BaseModel):
    """A ranked list and what produced it."""

    customer_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="The customer id, lowercased.")
    model_version: str
    features_version: str | None
    items: list[Recommendation]


class RecommendationRequest(BaseModel):
    """A customer with context: a product page being viewed and/or a cart."""

    customer_id: str = Field(pattern=HEX, description=CUSTOMER_DOC)
    k: int = Field(K, ge=1, le=K_MAX, description="How many articles to return.")
    cart: list[ArticleId] = Field(
        default_factory=list, max_length=200, description="Articles in the cart (never shown)."
    )
    viewing: ArticleId | None = Field(None, description="Article on the product page.")


class Health(BaseModel):
    """What the server is serving (``GET /health``)."""

    status: str
    model_version: str
    model_cutoff: str
    features_version: str
    features_cutoff: str | None
    customers_with_candidates: int
    articles: int
    articles_on_sale: int
    answers_ranked_ahead: int
    swaps: int


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
    app.add_exception_handler(StarletteHTTPException, _error)
    _routes(app)
    return app


def create_server(recommender: Recommender | None = None, watch: bool = True) -> Front:
    """What ``hm serve`` runs: :func:`create_app` behind :class:`serving.front.Front`, which
    answers context-free GETs from the answers ranked ahead of time."""
    return Front(create_app(recommender, watch))


async def _invalid(_request, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable line per problem (``field: message (got value)``)."""
    return JSONResponse(status_code=422, content={"detail": [_line(e) for e in exc.errors()]})


async def _error(_request, exc: StarletteHTTPException) -> JSONResponse:
    """Any HTTP error (ours, or the router's 404/405) in the :class:`Error` shape."""
    lines = exc.detail if isinstance(exc.detail, list) else [str(exc.detail)]
    return JSONResponse({"detail": lines}, status_code=exc.status_code, headers=exc.headers)


def _shown(value: object) -> str:
    """``repr(value)``, cut to :data:`SHOWN` characters (a hostile input is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 3]}..."


def _line(error: dict) -> str:
    """``field: message (got value)``; a body that is not JSON names where its parse failed."""
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"body: not valid JSON ({reason} at character {error['loc'][-1]})"
    return f"{_field(error)}: {_message(error)} (got {_shown(error.get('input'))})"


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

    @app.get("/recommendations/{customer_id}", response_model=Recommendations, responses=INVALID)
    async def recommendations(customer_id: CustomerId, k: TopK = K) -> Response:
        """Top ``k`` for a customer (cold-start best sellers for an unknown one)."""
        return _answer(app.state.recommender, customer_id, k, [], None)

    @app.post(
        "/recommendations", response_model=Recommendations, responses={**UNREADABLE, **INVALID}
    )
    async def recommendations_in_context(request: RecommendationRequest) -> Response:
        """Top ``k`` given a cart (never shown, bought-together items) and a viewed article.

        An article of ``cart`` or ``viewing`` that is not in the catalogue gets a 422 naming it.
        """
        rec = app.state.recommender
        problems = _unknown_context(rec, request.cart, request.viewing)
        if problems:
            raise HTTPException(422, problems)
        return _answer(rec, request.customer_id, request.k, request.cart, request.viewing)

    @app.get(
        "/articles/{article_id}/similar",
        response_model=list[Recommendation],
        responses={**UNKNOWN_ARTICLE, **INVALID},
    )
    async def similar(article_id: ArticlePath, k: TopK = K) -> list:
        """A product page's similar items."""
        rec = app.state.recommender
        if not rec.knows_article(article_id):
            raise HTTPException(404, f"article_id: unknown article {article_id}")
        return _items(rec.similar(article_id, k))

    @app.get("/health", response_model=Health)
    async def health() -> dict:
        """Model version, feature freshness and what is loaded."""
        return app.state.recommender.health()


def _unknown_context(rec: Recommender, cart: list[int], viewing: int | None) -> list[str]:
    """One line per article of the context not in the catalogue (the first ten)."""
    named = [(f"cart.{i}", a) for i, a in enumerate(cart)]
    named += [] if viewing is None else [("viewing", viewing)]
    unknown = set(rec.unknown_articles([a for _, a in named]))
    return [f"{name}: unknown article {a}" for name, a in named if a in unknown][:10]


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
