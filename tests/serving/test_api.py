"""The HTTP API: answers, validation (4xx with a clear message, never a 500), OpenAPI, swaps."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from recsys import registry
from recsys.settings import Settings
from serving.api import Recommendations, create_app, create_server
from serving.recommender import Recommender
from tests.serving.test_recommender import UNKNOWN, submission


@pytest.fixture(scope="module")
def client(served: Settings):
    """What `hm serve` runs: the front (answers ranked ahead) before the FastAPI app."""
    app = create_server(Recommender(served, on_sale_days=None), watch=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_get_matches_the_batch_list(served: Settings, client: TestClient) -> None:
    for row in submission(served).head(5).itertuples():
        response = client.get(f"/recommendations/{row.customer_id_hex}")
        body = response.json()
        assert response.headers["content-type"] == "application/json"
        assert Recommendations.model_validate(body).items[0].rank == 1  # the documented shape
        assert [i["article_id"] for i in body["items"]] == row.articles
        assert body["model_version"] == "1" and [i["rank"] for i in body["items"]] == list(
            range(1, 13)
        )


def test_the_front_writes_what_the_fastapi_route_writes(served: Settings) -> None:
    rec = Recommender(served, on_sale_days=served.on_sale_days)  # the state the loop published
    assert rec.state.answers is not None
    ranked = []
    recommend = rec.recommend
    rec.recommend = lambda *a, **kw: ranked.append(a) or recommend(*a, **kw)  # count real-time
    hexes = submission(served)["customer_id_hex"].head(8).tolist()
    with (
        TestClient(create_server(rec, watch=False)) as fast,
        TestClient(create_app(rec, watch=False)) as plain,
    ):
        for url in [f"/recommendations/{h}{q}" for h in [*hexes, UNKNOWN] for q in ("", "?k=3")]:
            answer = fast.get(url)
            assert answer.status_code == 200 and not ranked  # answered ahead, nothing ranked
            assert answer.content == plain.get(url).content, url
            assert answer.headers["content-type"] == "application/json"
            ranked.clear()
        for url in [f"/recommendations/{hexes[0]}?k=40", f"/recommendations/{UNKNOWN.upper()}"]:
            assert fast.get(url).content == plain.get(url).content  # FastAPI's turn
        assert ranked


def test_post_with_cart_and_viewing(served: Settings, client: TestClient) -> None:
    row = next(submission(served).itertuples())
    cart, viewing = row.articles[:2], row.articles[2]
    body = client.post(
        "/recommendations",
        json={"customer_id": row.customer_id_hex, "k": 6, "cart": cart, "viewing": viewing},
    ).json()
    ids = [i["article_id"] for i in body["items"]]
    assert len(ids) == 6 and not {*cart, viewing} & set(ids)


def test_unknown_customer_gets_cold_start(client: TestClient) -> None:
    response = client.get(f"/recommendations/{UNKNOWN}?k=5")
    assert response.status_code == 200 and len(response.json()["items"]) == 5


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "text"),
    [
        ("get", "/recommendations/abc", None, 422, "customer_id"),
        ("get", f"/recommendations/{'g' * 64}", None, 422, "customer_id"),
        ("get", f"/recommendations/{'a' * 65}", None, 422, "customer_id"),
        ("get", f"/recommendations/{UNKNOWN}?k=0", None, 422, "k"),
        ("get", f"/recommendations/{UNKNOWN}?k=many", None, 422, "k"),
        ("post", "/recommendations", {"customer_id": "xyz"}, 422, "customer_id"),
        ("post", "/recommendations", {"customer_id": UNKNOWN, "cart": ["x"]}, 422, "cart"),
        ("post", "/recommendations", {"customer_id": UNKNOWN, "cart": [123]}, 422, "123"),
        ("post", "/recommendations", {"customer_id": UNKNOWN, "viewing": -4}, 422, "viewing"),
        ("get", "/articles/123/similar", None, 404, "123"),
        ("get", "/articles/shirt/similar", None, 422, "article_id"),
        # article ids are int32: anything larger is malformed (it overflowed the lookup: a 500)
        ("post", "/recommendations", {"customer_id": UNKNOWN, "cart": [2**63]}, 422, "cart.0"),
        ("post", "/recommendations", {"customer_id": UNKNOWN, "viewing": 10**30}, 422, "viewing"),
        ("post", "/recommendations", {"customer_id": UNKNOWN, "viewing": 2**31}, 422, "2147483647"),
        ("get", f"/articles/{2**63}/similar", None, 422, "article_id"),
        ("get", f"/articles/{2**31}/similar", None, 422, "2147483647"),
    ],
)
def test_malformed_input_gets_a_clear_4xx(client, method, url, body, status, text) -> None:
    response = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    assert text in str(response.json()["detail"])


def test_a_hostile_value_is_not_echoed_whole(client: TestClient) -> None:
    response = client.get(f"/recommendations/{'a' * 5000}")
    (line,) = response.json()["detail"]
    assert response.status_code == 422 and line.startswith("customer_id:") and len(line) < 200


def test_kaggle_zero_padded_article_ids_read_as_numbers(served: Settings, client) -> None:
    row = next(submission(served).itertuples())
    article, padded = row.articles[0], f"{row.articles[0]:010d}"  # 0108775015 -> 108775015
    assert client.get(f"/articles/{padded}/similar").json() == (
        client.get(f"/articles/{article}/similar").json()
    )
    answers = [
        client.post("/recommendations", json={"customer_id": row.customer_id_hex, "viewing": v})
        for v in (article, padded)
    ]
    assert answers[0].status_code == 200 and answers[0].json() == answers[1].json()


def test_the_openapi_describes_the_ids_it_accepts(client: TestClient) -> None:
    """Customer ids: 64 hex digits in either case, answered lowercased; article ids: int32."""
    spec = client.get("/openapi.json").json()
    parts = spec["components"]["schemas"]
    get = spec["paths"]["/recommendations/{customer_id}"]["get"]
    path_id = next(p["schema"] for p in get["parameters"] if p["name"] == "customer_id")
    body = parts["RecommendationRequest"]["properties"]
    answered = parts["Recommendations"]["properties"]["customer_id"]["pattern"]
    assert path_id["pattern"] == body["customer_id"]["pattern"]
    assert re.fullmatch(path_id["pattern"], UNKNOWN.upper())
    response = client.post("/recommendations", json={"customer_id": UNKNOWN.upper(), "k": 1})
    assert response.status_code == 200 and response.json()["customer_id"] == UNKNOWN
    assert re.fullmatch(answered, UNKNOWN) and not re.fullmatch(answered, UNKNOWN.upper())
    similar = spec["paths"]["/articles/{article_id}/similar"]["get"]["parameters"]
    viewing = next(s for s in body["viewing"]["anyOf"] if s.get("type") == "integer")
    for article in [similar[0]["schema"], body["cart"]["items"], viewing]:
        assert (article["minimum"], article["maximum"]) == (1, 2**31 - 1), article


def test_similar_health_and_openapi(served: Settings, client: TestClient) -> None:
    article = next(submission(served).itertuples()).articles[0]
    similar = client.get(f"/articles/{article}/similar?k=5").json()
    assert 0 < len(similar) <= 5 and article not in [i["article_id"] for i in similar]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model_version"] == "1"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/recommendations/{customer_id}", "/recommendations", "/health"} <= set(paths)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_champion_swap_over_http_loses_no_request(served: Settings) -> None:
    import httpx
    import uvicorn

    rec = Recommender(served, refresh_s=0.05, on_sale_days=None)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_server(rec), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    hexes = submission(served)["customer_id_hex"].head(20).tolist()
    seen, failures, stop = [], [], threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while not stop.is_set():
                for h in hexes:
                    r = http.get(f"/recommendations/{h}")
                    ok = r.status_code == 200 and len(r.json()["items"]) == 12
                    (seen.append(r.json()["model_version"]) if ok else failures.append(r.text))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    v1 = registry.version_by_alias(served, registry.CHAMPION)
    try:
        time.sleep(0.5)
        v2 = registry.client(served).create_model_version(registry.MODEL_NAME, v1.source, v1.run_id)
        registry.set_alias(served, registry.CHAMPION, v2.version)
        deadline = time.time() + 30
        while str(v2.version) not in seen[-20:] and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for w in workers:
            w.join()
        server.should_exit = True
        thread.join(10)
        registry.set_alias(served, registry.CHAMPION, v1.version)
    assert not failures
    assert {"1", str(v2.version)} <= set(seen)


def test_hm_serve_without_a_champion_says_what_to_do(tmp_path) -> None:
    from typer.testing import CliRunner

    from recsys.cli import app

    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "serve"])
    assert result.exit_code == 1 and "champion" in result.output and "hm run" in result.output
