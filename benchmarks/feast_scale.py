"""Feast at H&M scale: materialize time, online read latency (fast path vs SDK), historical time.

Standalone: ``python -m benchmarks.feast_scale --scale medium [--online sqlite redis]``. Random
snapshots following ``recsys.features.spec`` are written under a temporary home in the system
tmp folder (deleted afterwards unless ``--keep``); Redis runs use db 15 (flushed before/after).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.online_latency import time_reads
from recsys.features import materialize as mat
from recsys.features import store as st
from recsys.settings import Settings

SCALES = {
    "tiny": (3_000, 1_000),
    "small": (20_000, 5_000),
    "medium": (150_000, 20_000),
    "full": (1_371_980, 105_542),
}
CUTOFFS = (dt.date(2020, 9, 9), dt.date(2020, 9, 16))
REDIS = "127.0.0.1:6379,db=15"


def random_column(field: pa.Field, n: int, rng: np.random.Generator) -> pa.Array:
    """Random values of one spec column, 10% nulls (vectorised)."""
    mask = rng.random(n) < 0.1
    if field.type == pa.string():
        codes = pa.array(rng.integers(0, 4, n).astype(np.int32), mask=mask)
        vocab = pa.array(["ACTIVE", "PRE-CREATE", "LEFT CLUB", "Regularly"])
        return pa.DictionaryArray.from_arrays(codes, vocab).cast(pa.string())
    if field.type == pa.float32():
        return pa.array(rng.random(n, dtype=np.float32), mask=mask)
    return pa.array(rng.integers(-1, 2_000, n).astype(np.int32), mask=mask).cast(field.type)


def write_snapshot(settings: Settings, kind: str, cutoff: dt.date, n: int, seed: int) -> Path:
    """One random snapshot of ``n`` entities (ids 1..n) at ``cutoff``."""
    rng = np.random.default_rng(seed)
    schema = mat.expected_schema(kind)
    ts = pa.array(np.full(n, np.datetime64(cutoff.isoformat(), "us")), pa.timestamp("us"))
    cols = [pa.array(np.arange(1, n + 1)).cast(schema.field(0).type), ts.cast(schema.field(1).type)]
    cols += [random_column(f, n, rng) for f in list(schema)[2:]]
    path = mat.snapshot_path(settings, kind, cutoff)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(cols, schema=schema), path, row_group_size=256_000)
    return path


def time_online(settings: Settings, online: str, n_c: int, n_a: int, reps: int) -> dict:
    """p50/p99 of 1 customer + 200 articles: the fast path and the SDK, on the same rows."""
    customers, articles = np.arange(1, n_c + 1), np.arange(1, n_a + 1)
    return time_reads(settings, customers, articles, reps, online=online, redis=REDIS)


def time_historical(settings: Settings, n_c: int, n_a: int, rows: int) -> float:
    """Seconds of ranker_v1 training retrieval for ``rows`` rows spread over the two weeks."""
    from recsys.features.historical import historical_features

    rng = np.random.default_rng(2)
    start = pd.Timestamp(CUTOFFS[0], tz="UTC")
    entity_df = pd.DataFrame(
        {
            "customer_id": rng.integers(1, n_c + 1, rows),
            "article_id": rng.integers(1, n_a + 1, rows),
            "event_timestamp": start + pd.to_timedelta(rng.integers(0, 14 * 86_400, rows), "s"),
        }
    )
    t0 = time.perf_counter()
    out = historical_features(settings, entity_df, progress=True)
    assert len(out) == rows
    return time.perf_counter() - t0


def redis_cpu() -> float:
    """CPU seconds (user + sys) the Redis server has used so far."""
    import redis

    info = redis.Redis(host="127.0.0.1", port=6379).info("cpu")
    return float(info["used_cpu_user"] + info["used_cpu_sys"])


def flush_redis() -> None:
    """Empty Redis db 15 (the benchmark's own)."""
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=15).flushdb()


class Table(list):
    """Result rows, each also printed as soon as it is measured (partial runs still report)."""

    def append(self, row: tuple) -> None:
        """Keep and print one row."""
        print(" | ".join(row), flush=True)
        super().append(row)


def run(scale: str, onlines: list[str], reps: int, hist_rows: int, root: Path) -> list[tuple]:
    """Build the snapshots, then time each step; returns table rows."""
    n_c, n_a = SCALES[scale]
    settings = Settings(home=root / "home", raw=None)
    t0 = time.perf_counter()
    for k, cutoff in enumerate(CUTOFFS):
        write_snapshot(settings, "customer", cutoff, n_c, seed=k)
        write_snapshot(settings, "article", cutoff, n_a, seed=100 + k)
    table = Table()
    table.append(
        (scale, "-", "write random snapshots (2 cutoffs)", f"{time.perf_counter() - t0:.1f} s")
    )
    for online in onlines:
        if online == "redis":
            flush_redis()
        st.apply(settings, online, REDIS)
        server = redis_cpu() if online == "redis" else 0.0
        t0, cpu0 = time.perf_counter(), time.process_time()
        stats = mat.materialize(settings, CUTOFFS[0], online, REDIS)
        values = n_c * 92 + n_a * 53
        secs, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server = redis_cpu() - server if online == "redis" else 0.0
        table.append(
            (
                scale,
                online,
                "materialize 1 cutoff",
                f"{secs:.1f} s ({values / secs / 1e6:.2f} M val/s)",
            )
        )
        cpus = f"{cpu:.1f} s" + (f" + redis-server {server:.1f} s" if online == "redis" else "")
        table.append((scale, online, "  CPU (this process, all threads)", cpus))
        table.append((scale, online, "  of which customers", f"{stats['customer_seconds']:.1f} s"))
        lat = time_online(settings, online, n_c, n_a, reps)
        table.append((scale, online, "article cache load", f"{lat['cache_load_s']:.1f} s"))
        table.append(
            (
                scale,
                online,
                "online 1c+200a fast p50/p99",
                f"{lat['fast']['p50']:.2f} / {lat['fast']['p99']:.2f} ms",
            )
        )
        table.append(
            (
                scale,
                online,
                "online 1c+200a SDK p50/p99",
                f"{lat['sdk']['p50']:.2f} / {lat['sdk']['p99']:.2f} ms",
            )
        )
        if online == "redis":
            flush_redis()
    if hist_rows:
        secs = time_historical(settings, n_c, n_a, hist_rows)
        table.append((scale, "file", f"historical {hist_rows:,} rows", f"{secs:.1f} s"))
    return table


def main() -> None:
    """Parse arguments, run, print the table, clean up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=SCALES, default="medium")
    parser.add_argument("--online", nargs="+", choices=["sqlite", "redis"], default=["sqlite"])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--hist-rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"feast_scale_{args.scale}_"))
    try:
        table = run(args.scale, args.online, args.reps, args.hist_rows, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[2]) for r in table)
    print(f"\n{'scale':8} {'online':7} {'step':{width}} result")
    for scale, online, step, result in table:
        print(f"{scale:8} {online:7} {step:{width}} {result}")


if __name__ == "__main__":
    main()
