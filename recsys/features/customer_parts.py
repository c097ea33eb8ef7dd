"""The customer snapshot of one cutoff built in parts by customer id range, a task each.

Every customer feature is an aggregate over that customer's own rows, but for one input: each
article's mean price before the cutoff (the price ratios), which is over every buyer. So the
stage computes the mean prices once from its whole base tables and ships them (one row per
article) with each part; a part (on a Dask cluster's worker, say) reads from the lake only its
customers and their transactions, builds their pair history and runs the very query of the
whole snapshot. The parts come back in id order: the stage writes the same rows, in the same
order, as a build in one piece.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from recsys import schema
from recsys.data.lake import Lake
from recsys.features.customer import ARTICLE_MEAN_PRICE, customer_snapshot_sql
from recsys.features.customer import prepare as prepare_customers
from recsys.features.pairdays import load_base_tables, use_cutoff
from recsys.features.sql import connect, quote
from recsys.parallel import Parallel

MEAN_PRICES = "article_mean_prices"  # the shipped mean prices, as a table in a part's session


@dataclass(frozen=True)
class CustomerParts:
    """Where the parts of a customer snapshot are built, and into how many."""

    where: Parallel
    parts: int


@dataclass(frozen=True)
class _Part:
    """What every part of one cutoff's customer snapshot is built from."""

    lake: Path
    until: dt.date
    cutoff: dt.date
    timestamp: str
    mean_prices: pa.Table


def customer_ranges(con, parts: int) -> list[tuple[int, int]]:
    """(first, last) customer id of ``parts`` consecutive ranges of the session's customers."""
    ids = con.execute(f"SELECT {schema.CUSTOMER_ID} FROM customers ORDER BY 1").fetchnumpy()
    split = np.array_split(ids[schema.CUSTOMER_ID], max(1, parts))
    return [(int(a[0]), int(a[-1])) for a in split if len(a)]


def customer_snapshot_in_parts(
    con,
    lake: Lake,
    until: dt.date,
    cutoff: dt.date,
    timestamp: str,
    parts: CustomerParts,
    folder: Path,
) -> str:
    """The query of ``cutoff``'s customer snapshot over its parts, each built a customer range
    a task ``parts.where`` and kept as a Parquet file under ``folder`` (the caller removes it
    once written); ``con`` holds the whole base tables (up to ``until``) with
    ``article_bands`` prepared for ``cutoff``. Parquet, not Arrow, carries a part back: it keeps
    which columns DuckDB knows are never null, so the file written is the one-piece file."""
    mean_prices = con.sql(ARTICLE_MEAN_PRICE).to_arrow_table()
    job = _Part(Path(lake.root), until, cutoff, timestamp, mean_prices)
    ranges = customer_ranges(con, parts.parts)
    if not ranges:  # no customers: the whole query (empty)
        prepare_customers(con, cutoff)
        return customer_snapshot_sql(cutoff, timestamp)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, data in enumerate(parts.where.map(_customer_part, job, ranges)):
        files.append(folder / f"part-{i:05d}.parquet")
        files[-1].write_bytes(data)
    # one read_parquet per part: over a list of files DuckDB forgets what is never null
    union = " UNION ALL ".join(f"SELECT * FROM read_parquet({quote(str(f))})" for f in files)
    return f"SELECT * FROM ({union}) ORDER BY {schema.CUSTOMER_ID}"


def _customer_part(job: _Part, ids: tuple[int, int]) -> bytes:
    """The snapshot rows of the customers with ids in ``ids`` (first..last), as Parquet."""
    with tempfile.TemporaryDirectory(prefix="hm-customer-part-") as tmp:
        con = connect(Path(tmp) / "spill")
        try:
            load_base_tables(con, Lake(job.lake), job.until, ids)
            use_cutoff(con, job.cutoff)
            con.register(MEAN_PRICES, job.mean_prices)
            prepare_customers(con, job.cutoff, f"SELECT a, am FROM {MEAN_PRICES}")
            out = Path(tmp) / "part.parquet"
            sql = customer_snapshot_sql(job.cutoff, job.timestamp)
            con.execute(f"COPY ({sql}) TO {quote(str(out))} (FORMAT parquet, COMPRESSION zstd)")
            return out.read_bytes()
        finally:
            con.close()
