"""No leakage: a snapshot for cutoff T ignores every transaction on or after T."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys import schema
from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs
from recsys.features.snapshots import (
    build_snapshot,
    build_snapshots,
    read_snapshot,
    snapshot_path,
)
from recsys.settings import Settings
from tests.conftest import make_settings

ENTITIES = ("customer", "article")


def _partition(lake: Lake, week: dt.date) -> Path:
    """The transaction file of the week ending ``week``."""
    return lake.current_dir() / schema.TRANSACTIONS / f"{schema.WEEK}={week}" / "part-0.parquet"


def _extra_rows(lake: Lake, days: list[dt.date]) -> pa.Table:
    """Purchases on ``days`` by customers and articles of the lake (a never-seen pair each day)."""
    customers = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).column(0).to_pylist()[:50]
    articles = lake.read(schema.ARTICLES, [schema.ARTICLE_ID]).column(0).to_pylist()[-50:]
    rows = [(d, c, a) for d in days for c, a in zip(customers, articles, strict=True)]
    return pa.table(
        {
            schema.T_DAT: [r[0] for r in rows],
            schema.CUSTOMER_ID: [r[1] for r in rows],
            schema.ARTICLE_ID: [r[2] for r in rows],
            schema.PRICE: [0.5] * len(rows),
            schema.SALES_CHANNEL_ID: [2] * len(rows),
        },
        schema=schema.TRANSACTION_SCHEMA,
    )


def _tamper_after(lake: Lake, cutoff: dt.date) -> None:
    """Rewrite every week on/after ``cutoff``: drop rows, double prices, add rows at T and T+3."""
    extra = _extra_rows(lake, [cutoff, cutoff + dt.timedelta(days=3)])
    for week in (dt.date.fromisoformat(w) for w in lake.weeks()):
        if week < cutoff:
            continue
        path = _partition(lake, week)
        table = pq.read_table(path).select(schema.TRANSACTION_COLUMNS)
        table = table.take(list(range(0, table.num_rows, 2)))  # delete every other row
        prices = pc.multiply(table[schema.PRICE], pa.scalar(2.0, pa.float32()))
        table = table.set_column(table.schema.get_field_index(schema.PRICE), schema.PRICE, prices)
        if week == cutoff + dt.timedelta(days=6):
            table = pa.concat_tables([table, extra])
        pq.write_table(table, path)


def test_snapshot_ignores_transactions_on_or_after_the_cutoff(settings: Settings) -> None:
    lake = Lake(settings.paths.lake)
    cutoff = default_cutoffs(lake, 4)[0]
    features = settings.paths.features
    build_snapshot(lake, cutoff, features)
    before = {e: read_snapshot(features, e, cutoff) for e in ENTITIES}
    raw = {e: snapshot_path(features, e, cutoff).read_bytes() for e in ENTITIES}

    _tamper_after(lake, cutoff)
    build_snapshot(lake, cutoff, features)

    for e in ENTITIES:
        assert read_snapshot(features, e, cutoff).equals(before[e]), e
        assert snapshot_path(features, e, cutoff).read_bytes() == raw[e], e


def test_tampering_is_visible_to_a_later_cutoff(settings: Settings) -> None:
    """Guard for the test above: the same tampering does change the next week's snapshot."""
    lake = Lake(settings.paths.lake)
    cutoff, later = default_cutoffs(lake, 4)[:2]
    features = settings.paths.features
    build_snapshot(lake, later, features, entities=["customer"])
    before = read_snapshot(features, "customer", later)
    _tamper_after(lake, cutoff)
    build_snapshot(lake, later, features, entities=["customer"])
    assert not read_snapshot(features, "customer", later).equals(before)


def test_shared_base_matches_single_cutoff_builds(published_home: Path, tmp_path: Path) -> None:
    """Several cutoffs built from one shared base equal each cutoff built on its own."""
    lake = Lake(make_settings(published_home).paths.lake)
    cutoffs = default_cutoffs(lake, 3)
    together, alone = tmp_path / "together", tmp_path / "alone"
    build_snapshots(lake, cutoffs, together, progress=False)
    for cutoff in cutoffs[:2]:
        build_snapshot(lake, cutoff, alone)
        for e in ENTITIES:
            assert read_snapshot(together, e, cutoff).equals(read_snapshot(alone, e, cutoff)), e
