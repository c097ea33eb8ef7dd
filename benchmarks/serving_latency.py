"""Serving latency on a home the weekly loop published: in process, and over HTTP under load.

1. In process: ``Recommender.recommend`` (ranking in real time) for random customers with
   precomputed candidates, without and with a viewed article, next to the naive path on the
   same rows in the same run: the plain Feast SDK ``get_online_features`` (service
   ``ranker_v1``) for the customer and its candidate articles; and the time to rank every
   customer's context-free list ahead (:mod:`serving.ahead`, done by the loop once per state).
2. HTTP: ``hm serve`` in its own process, the load generator (:mod:`benchmarks.http_load`) in
   another, for 1 and 2 workers: GET (answered ahead) in closed loop at each ``--concurrency``;
   the POST with a viewed article (ranked in real time) in closed loop, then open loop at each
   ``--rates`` (Poisson arrivals, at most the largest concurrency in flight); GET with answers
   ahead turned off (ranked in real time) in closed loop.
3. The floor: :mod:`benchmarks.http_floor` (the same route answering a constant body, on
   FastAPI and as a bare ASGI app) under the same closed-loop load, i.e. what HTTP alone costs
   on this machine.
Prints one JSON line (and writes it to ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.online_latency import percentiles
from recsys.settings import Settings, get_settings


def timed(fn, args: list) -> list[float]:
    """Seconds of ``fn(a)`` for each ``a``."""
    out = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        out.append(time.perf_counter() - start)
    return out


def in_process(settings: Settings, reps: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Recommender vs Feast SDK on the same (customer, candidate articles), and with a viewed
    article; also the customers and the articles on sale.

    The recommender is timed twice over the same customers: the first pass touches their
    candidate rows for the first time (page faults on the memory-mapped store, as after a
    deploy), the second is the steady state of a running server.
    """
    from recsys.features import store
    from serving.ahead import precompute
    from serving.recommender import Recommender

    start = time.perf_counter()
    rec = Recommender(settings, on_sale_days=settings.on_sale_days, precompute=False)
    load = time.perf_counter() - start
    fs = store.open_store(settings)
    customers = rec.state.model.candidates.customers
    rng = np.random.default_rng(0)
    ids = [int(c) for c in rng.choice(customers, reps)]
    cold = timed(rec.recommend, ids)
    warm = timed(rec.recommend, ids)
    service = fs.get_feature_service("ranker_v1")

    def naive(cid: int) -> None:
        rows = [
            {"customer_id": cid, "article_id": int(a)}
            for a in rec.state.model.candidates.get(cid)[0]
        ]
        fs.get_online_features(features=service, entity_rows=rows).to_dict()

    sdk = timed(naive, ids)
    sizes = [len(rec.state.model.candidates.get(c)[0]) for c in ids]
    table = rec.state.articles
    viewed = table.ids[table.on_sale]
    pages = rng.choice(viewed, reps)
    context = timed(lambda i: rec.recommend(ids[i], viewing=int(pages[i])), range(reps))
    start = time.perf_counter()
    answers = precompute(rec.state, rec.watched, settings.threads)
    ahead = time.perf_counter() - start
    result = {
        "load_s": round(load, 1),
        "answers_ahead_s": round(ahead, 1),
        "answers_ahead_mib": round(_nbytes(answers) / 2**20, 1),
        "candidates_mean": round(float(np.mean(sizes)), 1),
        "recommend_first_touch": percentiles(cold),
        "recommend": percentiles(warm),
        "recommend_viewing": percentiles(context),
        "feast_sdk_same_rows": percentiles(sdk),
    }
    return result, customers, viewed


def _nbytes(answers) -> int:
    """Bytes of an :class:`serving.answers.Answers`' arrays."""
    arrays = [answers.customers, answers.articles, answers.scores, answers.sources]
    return sum(a.nbytes for a in [*arrays, answers.lengths, answers.segment_ids])


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(cmd: list[str], env: dict[str, str], workers: int) -> Iterator[str]:
    """Start the server ``cmd`` (which listens on ``--port``); yield its URL once it answers."""
    import httpx

    port = free_port()
    cmd = [*cmd, "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        start = time.perf_counter()
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        if workers > 1:  # the others started together; give them as long again to finish
            time.sleep(time.perf_counter() - start)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def load(url: str, ids: Path, concurrency: int, total: int, rate: float | None = None) -> dict:
    """One run of the load generator in its own process (open loop at ``rate`` if given)."""
    cmd = [sys.executable, "-m", "benchmarks.http_load", url, "--ids", str(ids)]
    cmd += ["--concurrency", str(concurrency), "--total", str(total)]
    cmd += ["--rate", str(rate)] if rate else []
    line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(line.strip().splitlines()[-1])


def over_http(settings: Settings, files: dict[str, Path], args: argparse.Namespace, workers: int):
    """`hm serve --workers N` under load: GET answered ahead (closed loop at each level), the
    POST with a viewed article (ranked in real time; closed loop at the largest level, then open
    loop at each rate), and GET with answers ranked ahead turned off (``HM_SERVE_PRECOMPUTE``).

    Open-loop runs last ``args.seconds`` each, with at most the largest level in flight.
    """
    env = {**os.environ, "HM_HOME": str(settings.paths.root)}
    cmd, cap, out = [sys.executable, "-m", "recsys.cli", "serve"], max(args.concurrency), []
    with served(cmd, env, workers) as url:
        for c in args.concurrency:
            out.append({**load(url, files["get"], c, args.total), "route": "GET ahead"})
        out.append({**load(url, files["post"], cap, args.total), "route": "POST viewing"})
        for rate in args.rates:
            total = max(200, int(rate * args.seconds))
            out.append({**load(url, files["post"], cap, total, rate), "route": "POST viewing"})
    with served(cmd, {**env, "HM_SERVE_PRECOMPUTE": "false"}, workers) as url:
        out.append({**load(url, files["get"], cap, args.total), "route": "GET real time"})
    return [{**row, "workers": workers} for row in out]


def floor(ids: Path, args: argparse.Namespace, workers: int) -> list[dict]:
    """The constant-answer apps (:mod:`benchmarks.http_floor`, FastAPI and bare ASGI) at the
    largest closed-loop level."""
    rows = []
    for name, target in (("FastAPI", "app"), ("bare ASGI", "bare")):
        cmd = [sys.executable, "-m", "uvicorn", f"benchmarks.http_floor:{target}"]
        cmd += ["--no-access-log", "--log-level", "warning"]
        with served(cmd, dict(os.environ), workers) as url:
            row = load(url, ids, max(args.concurrency), 2 * args.total)
        rows.append({**row, "workers": workers, "floor": name})
    return rows


def customer_hexes(settings: Settings, customers: np.ndarray, n: int) -> list[str]:
    """Kaggle ids of ``n`` random customers among ``customers``."""
    from recsys import schema
    from recsys.data.lake import Lake

    table = Lake(settings.paths.lake).read(
        schema.CUSTOMERS, [schema.CUSTOMER_ID, schema.CUSTOMER_HEX]
    )
    frame = table.to_pandas()
    frame = frame[frame[schema.CUSTOMER_ID].isin(customers)]
    return frame[schema.CUSTOMER_HEX].sample(min(n, len(frame)), random_state=0).tolist()


def floor_only(args: argparse.Namespace) -> dict:
    """Only the floor apps, on random ids (they need no project home)."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        ids = Path(tmp) / "ids.txt"
        ids.write_text("\n".join(f"{rng.integers(2**63):064x}" for _ in range(2000)))
        return {"http_floor": [row for w in args.workers for row in floor(ids, args, w)]}


def measure_all(args: argparse.Namespace) -> dict:
    """In process, over HTTP and the floor, on the settings' home."""
    settings = get_settings()
    result: dict = {}
    inproc, customers, viewed = in_process(settings, args.reps)
    result["in_process"] = inproc
    with tempfile.TemporaryDirectory() as tmp:
        files = {"get": Path(tmp) / "get.txt", "post": Path(tmp) / "post.txt"}
        hexes = customer_hexes(settings, customers, 2000)
        files["get"].write_text("\n".join(hexes))
        pages = np.random.default_rng(1).choice(viewed, len(hexes))
        files["post"].write_text("\n".join(f"{h} {a}" for h, a in zip(hexes, pages, strict=True)))
        result["http"] = [row for w in args.workers for row in over_http(settings, files, args, w)]
        result["http_floor"] = [row for w in args.workers for row in floor(files["get"], args, w)]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--total", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 150, 200, 300])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of an open-loop run")
    parser.add_argument("--floor-only", action="store_true", help="only the floor apps")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = floor_only(args) if args.floor_only else measure_all(args)
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
