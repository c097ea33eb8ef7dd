"""The versioned lake: atomic publish, staging cleanup, pruning, weekly partitions."""

import datetime as dt

import pyarrow as pa
import pytest

from recsys import schema
from recsys.data.lake import Lake, LakeEmptyError
from recsys.data.partition import WeekPartitionWriter


def tx_batch(days: list[dt.date]) -> pa.RecordBatch:
    n = len(days)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(days, pa.date32()),
            pa.array(range(n), pa.int64()),
            pa.array([108775015] * n, pa.int32()),
            pa.array([0.05] * n, pa.float32()),
            pa.array([2] * n, pa.int8()),
        ],
        schema=schema.TRANSACTION_SCHEMA,
    )


def publish_version(lake: Lake, days: list[dt.date], keep: int = 3) -> str:
    with lake.staging() as stage:
        writer = WeekPartitionWriter(stage / schema.TRANSACTIONS)
        writer.write(tx_batch(days))
        writer.close()
        return lake.publish(stage, {"rows": {"transactions": len(days)}}, keep=keep)


def test_empty_lake_says_what_to_run(tmp_path):
    with pytest.raises(LakeEmptyError, match="hm ingest"):
        Lake(tmp_path).current_dir()


def test_weeks_end_on_tuesday(tmp_path):
    lake = Lake(tmp_path)
    days = [dt.date(2020, 9, 16), dt.date(2020, 9, 22), dt.date(2020, 9, 23), dt.date(2020, 9, 15)]
    publish_version(lake, days)
    assert lake.weeks() == ["2020-09-15", "2020-09-22", "2020-09-29"]
    week = lake.transactions(weeks=["2020-09-22"]).to_table()
    assert sorted(week.column(schema.T_DAT).to_pylist()) == days[:2]
    assert lake.read(schema.TRANSACTIONS).num_rows == 4


def test_publish_switches_current_and_prunes_old_versions(tmp_path):
    lake = Lake(tmp_path)
    versions = [publish_version(lake, [dt.date(2020, 9, d)], keep=2) for d in (1, 2, 3)]
    assert lake.current_version() == versions[-1]
    assert sorted(p.name for p in lake.versions_dir.iterdir()) == versions[1:]
    assert lake.manifest()["version"] == versions[-1]


def test_failed_staging_leaves_no_trace(tmp_path):
    lake = Lake(tmp_path)
    live = publish_version(lake, [dt.date(2020, 9, 1)])
    with pytest.raises(RuntimeError), lake.staging() as stage:
        (stage / "half-written.parquet").write_bytes(b"x")
        raise RuntimeError("boom")
    assert lake.current_version() == live
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "versions"]
