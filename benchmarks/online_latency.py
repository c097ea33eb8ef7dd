"""Online read latency on a materialized home: 1 customer + 200 candidate articles.

Times the platform's fast path (``OnlineFeatures.get``) and, on the same rows in the same run,
the plain Feast SDK call (``get_online_features`` with the ``ranker_v1`` service). Customers and
articles are drawn from the newest snapshot. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from recsys.features.snapshots import latest_cutoff, read_snapshot
from recsys.settings import Settings, get_settings


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    ms = np.asarray(samples) * 1e3
    return {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)}


def time_reads(
    settings: Settings,
    customers: np.ndarray,
    articles: np.ndarray,
    reps: int,
    candidates: int = 200,
    online: str | None = None,
    redis: str | None = None,
) -> dict:
    """Fast path and Feast SDK on the same random (customer, candidates) requests."""
    from recsys.features import store
    from recsys.features.online import OnlineFeatures

    reader = OnlineFeatures(settings, online, redis)
    start = time.perf_counter()
    reader.refresh(force=True)
    load = time.perf_counter() - start
    fs = store.open_store(settings, online, redis)
    service = fs.get_feature_service("ranker_v1")
    rng = np.random.default_rng(0)
    fast, sdk = [], []
    for _ in range(reps):
        cid = int(rng.choice(customers))
        aids = [int(a) for a in rng.choice(articles, candidates)]
        t0 = time.perf_counter()
        reader.get(cid, aids)
        t1 = time.perf_counter()
        rows = [{"customer_id": cid, "article_id": a} for a in aids]
        fs.get_online_features(features=service, entity_rows=rows).to_dict()
        sdk.append(time.perf_counter() - t1)
        fast.append(t1 - t0)
    return {"cache_load_s": round(load, 1), "fast": percentiles(fast), "sdk": percentiles(sdk)}


def main() -> None:
    """Measure on the materialized home of the settings and print the latencies."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=200)
    args = parser.parse_args()
    settings = get_settings()
    cutoff = latest_cutoff(settings.paths.features)
    customers = read_snapshot(settings.paths.features, "customer", cutoff).column(0).to_numpy()
    articles = read_snapshot(settings.paths.features, "article", cutoff).column(0).to_numpy()
    print(json.dumps(time_reads(settings, customers, articles, args.reps, args.candidates)))


if __name__ == "__main__":
    main()
