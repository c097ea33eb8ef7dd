"""build_snapshots: idempotent re-runs skip up-to-date files; ``force`` and stale files rebuild;
a week arriving rebuilds only the snapshots that read it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from recsys import schema
from recsys.data.ingest import ingest
from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs
from recsys.features.snapshots import (
    DIGEST_KEY,
    build_snapshots,
    built_cutoffs,
    latest_cutoff,
)
from recsys.settings import Settings
from tests.conftest import make_settings
from tests.data.test_arrival import LAST_WEEK, before, drop_week_file, from_day, raw_folder, split


def _mtimes(paths: list[Path]) -> list[int]:
    """Modification times in ns."""
    return [p.stat().st_mtime_ns for p in paths]


def test_rerun_skips_then_force_and_stale_rebuild(settings: Settings) -> None:
    lake = Lake(settings.paths.lake)
    cutoffs = default_cutoffs(lake, 2)
    features = settings.paths.features
    first = build_snapshots(lake, cutoffs, features, progress=False)
    assert [(i.cutoff, i.entity) for i in first] == [
        (c, e) for c in cutoffs for e in ("customer", "article")
    ]
    assert not any(i.skipped for i in first)
    paths = [i.path for i in first]
    stamps = _mtimes(paths)

    again = build_snapshots(lake, cutoffs, features, progress=False)
    assert all(i.skipped and i.seconds == 0 for i in again)
    assert [i.rows for i in again] == [i.rows for i in first]
    assert _mtimes(paths) == stamps

    forced = build_snapshots(lake, cutoffs[:1], features, progress=False, force=True)
    assert not any(i.skipped for i in forced)

    table = pq.read_table(paths[-1])  # built from other data: stale
    meta = {**table.schema.metadata, DIGEST_KEY.encode(): b"other"}
    pq.write_table(table.replace_schema_metadata(meta), paths[-1])
    partial = build_snapshots(lake, cutoffs, features, progress=False)
    assert [i.skipped for i in partial] == [True, True, True, False]
    assert not any(p.name.endswith(".tmp") for p in features.rglob("*"))
    assert built_cutoffs(features) == cutoffs and latest_cutoff(features) == cutoffs[-1]
    paths[-1].unlink()  # the newest cutoff lacks its article snapshot now
    assert latest_cutoff(features) == cutoffs[0]
    assert latest_cutoff(features / "nowhere") is None


def test_a_week_arriving_rebuilds_only_the_snapshots_that_read_it(
    tmp_path: Path, tiny_world: Path
) -> None:
    """Cutoffs before the new week keep their files (what they read is unchanged); the cutoff
    that follows it is built from it."""
    header, rows = split(tiny_world / schema.TRANSACTIONS_FILE)
    first = "2020-09-16"  # the last week's first day
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, first))
    settings = make_settings(tmp_path / "home")
    ingest(raw, settings, progress=False)
    lake, features = Lake(settings.paths.lake), settings.paths.features
    cutoffs = [dt.date(2020, 9, 9), dt.date.fromisoformat(first)]
    built = build_snapshots(lake, cutoffs, features, progress=False)
    stamps = _mtimes([i.path for i in built])

    drop_week_file(raw, LAST_WEEK, from_day(rows, first), header)
    ingest(raw, settings, progress=False)
    cutoffs.append(dt.date.fromisoformat(first) + dt.timedelta(days=7))
    after = build_snapshots(lake, cutoffs, features, progress=False)
    assert [i.skipped for i in after] == [True, True, True, True, False, False]
    assert _mtimes([i.path for i in after[:4]]) == stamps
