"""Customer snapshots built in customer id ranges, a task each: the files built in one piece."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.data.lake import Lake
from recsys.features.customer_parts import CustomerParts
from recsys.features.cutoffs import default_cutoffs
from recsys.features.snapshots import build_snapshots, snapshot_path
from recsys.parallel import Parallel
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def lake(published_home: Path) -> Lake:
    """The session's published tiny lake (read only)."""
    return Lake(make_settings(published_home).paths.lake)


@pytest.fixture(scope="module")
def cutoffs(lake: Lake) -> list[dt.date]:
    """Two cutoffs: the base tables end at the later one, the earlier is a view of them."""
    return default_cutoffs(lake, 5)[-2:]


@pytest.fixture(scope="module")
def whole(lake: Lake, cutoffs: list[dt.date], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both cutoffs' snapshots built in one piece."""
    features = tmp_path_factory.mktemp("whole")
    build_snapshots(lake, cutoffs, features, progress=False)
    return features


def typed(table: pa.Table) -> list[tuple[str, pa.DataType]]:
    """The columns' names and types, in order."""
    return [(field.name, field.type) for field in table.schema]


@pytest.mark.parametrize("on_cluster", [False, True])
def test_customer_snapshots_built_in_parts_are_those_built_whole(
    lake: Lake,
    cutoffs: list[dt.date],
    whole: Path,
    tmp_path: Path,
    on_cluster: bool,
    request: pytest.FixtureRequest,
) -> None:
    where = Parallel(client=request.getfixturevalue("cluster")) if on_cluster else Parallel(1)
    parts = CustomerParts(where, parts=5)
    build_snapshots(lake, cutoffs, tmp_path, progress=False, parts=parts)
    for cutoff in cutoffs:
        for entity in ("customer", "article"):
            want = pq.read_table(snapshot_path(whole, entity, cutoff))
            got = pq.read_table(snapshot_path(tmp_path, entity, cutoff))
            assert got.num_rows > 100 and typed(got) == typed(want)
            # Parquet's required flags are DuckDB's guess from each query's plan: not compared
            assert got.cast(want.schema).equals(want), (entity, cutoff)
            meta = pq.read_metadata(snapshot_path(tmp_path, entity, cutoff)).metadata
            assert meta == pq.read_metadata(snapshot_path(whole, entity, cutoff)).metadata
