"""The API keeps its OpenAPI contract: schemathesis (Hypothesis) over ``/openapi.json``.

Every operation is called with generated requests, valid and invalid (schemathesis' coverage
phase: boundary values, wrong types, unsupported methods; then a bounded, derandomized fuzzing
phase), against the tiny served home, so real 200s, 404s and 422s come back. Each response must be
documented (status, content type, body schema) and none may be a 500.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from recsys.settings import Settings
from serving.api import create_app, create_server
from serving.recommender import Recommender
from tests.serving.test_recommender import UNKNOWN

# The published schema needs no recommender (only the app's routes); requests go to `served_app`.
OPENAPI = create_app(watch=False).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
SIMILAR, POST = schema["/articles/{article_id}/similar"]["GET"], schema["/recommendations"]["POST"]


@pytest.fixture(scope="module")
def served_app(served: Settings):
    """What `hm serve` runs (the front before the FastAPI app) on the tiny served home."""
    app = create_server(Recommender(served, on_sale_days=None), watch=False)
    with TestClient(app) as client:
        assert client.get("/openapi.json").json() == OPENAPI  # the schema under test
    return app


@schema.parametrize()
@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_openapi_contract(case, served_app) -> None:
    response = case.call(app=served_app)
    # The one 422 a schema-valid request may get: a cart or viewed article not in the catalogue
    # (the schema cannot list the catalogue); any other rejected valid request still fails.
    excluded = [positive_data_acceptance] if _unknown_articles_only(response) else []
    case.validate_response(response, excluded_checks=excluded, transport_kwargs={"app": served_app})


def _unknown_articles_only(response) -> bool:
    """True for a 422 whose every line names an article not in the catalogue."""
    if response.status_code != 422:
        return False
    lines = response.json()["detail"]
    return bool(lines) and all(": unknown article " in line for line in lines)


JSON = "application/json"
NAN = b'{"customer_id": "%s", "viewing": NaN}' % UNKNOWN.encode()
REPORTED = {  # the user report's requests (each was a 500 or an undocumented answer)
    "cart 2**63": (POST, {"body": {"customer_id": UNKNOWN, "cart": [2**63]}}, 422),
    "viewing 10**30": (POST, {"body": {"customer_id": UNKNOWN, "viewing": 10**30}}, 422),
    "viewing NaN": (POST, {"body": NAN}, 422),
    "not JSON": (POST, {"body": b'{"customer_id": '}, 422),
    "not UTF-8": (POST, {"body": b"\xfd\t\xec"}, 400),
    "similar 2**63": (SIMILAR, {"path_parameters": {"article_id": 2**63}}, 422),
    "similar 2**31": (SIMILAR, {"path_parameters": {"article_id": 2**31}}, 422),
    "similar unknown": (SIMILAR, {"path_parameters": {"article_id": 123}}, 404),
    "k huge": (SIMILAR, {"path_parameters": {"article_id": 1}, "query": {"k": 10**20}}, 422),
}


@pytest.mark.parametrize("name", list(REPORTED))
def test_reported_requests_get_a_documented_4xx(name: str, served_app) -> None:
    operation, request, status = REPORTED[name]
    media = {"media_type": JSON} if "body" in request else {}
    response = operation.Case(**request, **media).call_and_validate(app=served_app)
    assert response.status_code == status, response.text
