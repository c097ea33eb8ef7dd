"""build_snapshots: idempotent re-runs skip up-to-date files; ``force`` and stale files rebuild."""

from __future__ import annotations

import os
from pathlib import Path

from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs
from recsys.features.snapshots import build_snapshots, built_cutoffs, latest_cutoff
from recsys.settings import Settings


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

    old = (lake.current_dir() / "manifest.json").stat().st_mtime - 60
    os.utime(paths[-1], (old, old))  # older than the lake version: stale
    partial = build_snapshots(lake, cutoffs, features, progress=False)
    assert [i.skipped for i in partial] == [True, True, True, False]
    assert not any(p.name.endswith(".tmp") for p in features.rglob("*"))
    assert built_cutoffs(features) == cutoffs and latest_cutoff(features) == cutoffs[-1]
    paths[-1].unlink()  # the newest cutoff lacks its article snapshot now
    assert latest_cutoff(features) == cutoffs[0]
    assert latest_cutoff(features / "nowhere") is None
