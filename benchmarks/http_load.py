"""HTTP load on ``GET /recommendations/{id}`` (or the POST with a viewed article), closed or open
loop.

Closed loop (default): ``concurrency`` clients each send requests back to back, so latency is
``concurrency / throughput`` once the server is saturated. Open loop (``--rate R``): requests
arrive as a Poisson process at ``R`` per second, at most ``concurrency`` in flight; each
latency counts from the request's scheduled arrival, so time spent waiting for a free slot is
included (no coordinated omission). Run as its own process (``python -m benchmarks.http_load
URL --ids FILE``) so that the load generator never shares the server's interpreter. Prints one
JSON line: latency percentiles (ms), throughput, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np


def request(session, url: str, entry: str):
    """``GET /recommendations/{id}`` for an entry ``id``; for ``id article`` the POST with
    ``viewing``: a product page, ranked in real time."""
    customer, _, viewing = entry.partition(" ")
    if viewing:
        body = {"customer_id": customer, "viewing": int(viewing)}
        return session.post(f"{url}/recommendations", json=body)
    return session.get(f"{url}/recommendations/{customer}")


async def client(session, url: str, ids: list[str], n: int, lat: list, errors: list) -> None:
    """One closed-loop client: ``n`` requests (see :func:`request`), entries cycled."""
    for i in range(n):
        start = time.perf_counter()
        try:
            async with request(session, url, ids[i % len(ids)]) as r:
                await r.read()
                if r.status != 200:
                    errors.append(r.status)
        except Exception as e:  # noqa: BLE001 (counted as errors)
            errors.append(repr(e))
        lat.append(time.perf_counter() - start)


async def run(url: str, ids: list[str], concurrency: int, total: int, warmup: int) -> dict:
    """Warm up, then ``total`` requests from ``concurrency`` clients."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session, url, ids, 1, [], []) for _ in range(warmup)))
        lat: list[float] = []
        errors: list = []
        per = total // concurrency
        start = time.perf_counter()
        await asyncio.gather(
            *(
                client(session, url, ids[c::concurrency] or ids, per, lat, errors)
                for c in range(concurrency)
            )
        )
        wall = time.perf_counter() - start
    return summary(lat, errors, wall, concurrency=concurrency)


def summary(lat: list[float], errors: list, wall: float, **extra: object) -> dict:
    """Percentiles (ms), throughput and errors of one load run."""
    ms = np.asarray(lat) * 1e3
    return {
        **extra,
        "requests": len(lat),
        "errors": len(errors),
        "rps": round(len(lat) / wall, 1),
        **{f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)},
    }


async def open_loop(url: str, ids: list[str], rate: float, concurrency: int, total: int) -> dict:
    """``total`` Poisson arrivals at ``rate``/s, at most ``concurrency`` in flight."""
    import aiohttp

    arrivals = np.cumsum(np.random.default_rng(0).exponential(1.0 / rate, total))
    slots = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    errors: list = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session, url, ids, 1, [], []) for _ in range(concurrency)))

        async def one(i: int, due: float) -> None:
            async with slots:
                await client(session, url, [ids[i % len(ids)]], 1, [], errors)
            lat.append(time.perf_counter() - due)

        start = time.perf_counter()
        tasks = []
        for i, offset in enumerate(arrivals):
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i, start + offset)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    return summary(lat, errors, wall, concurrency=concurrency, rate=rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument(
        "--ids",
        type=Path,
        required=True,
        help="file: one customer hex per line (GET), or 'hex article_id' (POST with viewing)",
    )
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--total", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=None, help="open loop: arrivals per second")
    args = parser.parse_args()
    ids = [line.strip() for line in args.ids.read_text().splitlines() if line.strip()]
    if args.rate:
        result = asyncio.run(open_loop(args.url, ids, args.rate, args.concurrency, args.total))
    else:
        result = asyncio.run(run(args.url, ids, args.concurrency, args.total, 50))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
