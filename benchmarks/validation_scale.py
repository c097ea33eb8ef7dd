"""Time and memory of ``validate_tables`` on synthetic typed frames at H&M scale.

Not collected by pytest. Run: ``python -m benchmarks.validation_scale --scale 1.0``
under ``/usr/bin/time -v`` for the peak RSS (the report also prints the process high-water mark).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema
from recsys.settings import Settings

FULL = {schema.TRANSACTIONS: 31_788_324, schema.CUSTOMERS: 1_371_980, schema.ARTICLES: 105_542}


def synthetic_articles(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n valid articles (all 25 columns; strings shared to keep memory low)."""
    ids = np.unique(rng.integers(100_000_000, 960_000_000, 2 * n))[:n]
    data: dict[str, object] = {}
    for field in schema.ARTICLE_SCHEMA:
        if field.name == schema.ARTICLE_ID:
            data[field.name] = ids.astype(np.int32)
        elif field.name == "product_code":
            data[field.name] = (ids // 1000).astype(np.int32)
        elif field.name == "index_code":
            data[field.name] = np.array(schema.INDEX_CODES, dtype=object)[rng.integers(0, 10, n)]
        elif str(field.type) == "int32":
            data[field.name] = rng.integers(-1, 1000, n, dtype=np.int32)
        else:
            data[field.name] = np.array([f"{field.name} {i}" for i in range(50)], object)[
                rng.integers(0, 50, n)
            ]
    return pd.DataFrame(data, index=pd.RangeIndex(2, n + 2))


def synthetic_customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n valid customers with random 64-hex ids."""
    raw = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    hexes = [row.tobytes().hex() for row in raw]
    ids = raw[:, 24:].copy().view(">u8").ravel().astype(np.uint64).view(np.int64)
    cats = np.array([*schema.CLUB_MEMBER_STATUSES, None], dtype=object)
    news = np.array([*schema.FASHION_NEWS_FREQUENCIES, None], dtype=object)
    ones = np.where(rng.random(n) < 0.35, 1.0, np.nan).astype(np.float32)
    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: ids,
            "FN": ones,
            "Active": ones.copy(),
            "club_member_status": cats[rng.integers(0, 4, n)],
            "fashion_news_frequency": news[rng.integers(0, 5, n)],
            "age": rng.integers(16, 99, n).astype(np.float32),
            "postal_code": np.array(hexes, dtype=object)[rng.integers(0, n, n)],
            schema.CUSTOMER_HEX: hexes,
        },
        index=pd.RangeIndex(2, n + 2),
    )


def synthetic_transactions(
    n: int, articles: pd.DataFrame, customers: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """n valid transactions over two years, ids drawn from the given tables."""
    start = np.datetime64("2018-09-20", "ns")
    days = rng.integers(0, 734, n).astype("timedelta64[D]").astype("timedelta64[ns]")
    return pd.DataFrame(
        {
            schema.T_DAT: start + days,
            schema.CUSTOMER_ID: customers[schema.CUSTOMER_ID].to_numpy()[
                rng.integers(0, len(customers), n)
            ],
            schema.ARTICLE_ID: articles[schema.ARTICLE_ID].to_numpy()[
                rng.integers(0, len(articles), n)
            ],
            schema.PRICE: rng.uniform(0.001, 0.5, n).astype(np.float32),
            schema.SALES_CHANNEL_ID: rng.integers(1, 3, n).astype(np.int8),
        },
        index=pd.RangeIndex(2, n + 2),
    )


def peak_rss_gb() -> float:
    """This process's peak resident set size so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    """Build the frames, validate (optionally with injected bad rows) and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/hm_validation_bench"))
    parser.add_argument("--bad", action="store_true", help="inject bad prices and unknown ids")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from recsys.validation import validate_tables

    rng = np.random.default_rng(0)
    sizes = {k: max(10, int(v * args.scale)) for k, v in FULL.items()}
    t0 = time.perf_counter()
    articles = synthetic_articles(sizes[schema.ARTICLES], rng)
    customers = synthetic_customers(sizes[schema.CUSTOMERS], rng)
    transactions = synthetic_transactions(sizes[schema.TRANSACTIONS], articles, customers, rng)
    if args.bad:
        bad = rng.integers(0, len(transactions), 1000)
        transactions.loc[transactions.index[bad], schema.PRICE] = 999.0
        transactions.loc[transactions.index[bad[:10]], schema.ARTICLE_ID] = 7
    print(f"built {sizes} in {time.perf_counter() - t0:.1f}s, peak RSS {peak_rss_gb():.2f} GB")
    shutil.rmtree(args.out, ignore_errors=True)
    tables = {
        schema.ARTICLES: articles,
        schema.CUSTOMERS: customers,
        schema.TRANSACTIONS: transactions,
    }
    settings = Settings(date_max=dt.date(2020, 9, 22))
    for attempt in (1, 2):
        t0 = time.perf_counter()
        report = validate_tables(tables, args.out, settings)
        took = time.perf_counter() - t0
        print(f"run {attempt}: {took:.1f}s, peak RSS {peak_rss_gb():.2f} GB")
    print(report.summary())
    print(report.describe_failures())


if __name__ == "__main__":
    main()
