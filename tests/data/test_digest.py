"""Lake digests cut at a week: unchanged by a later week arriving, changed by an earlier one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recsys import schema
from recsys.data.digest import lake_digest
from recsys.data.ingest import ingest
from recsys.data.lake import Lake
from tests.conftest import make_settings
from tests.data.test_arrival import LAST_WEEK, before, drop_week_file, from_day, raw_folder, split

EARLIER = dt.date(2020, 9, 8)  # a week of the tiny world well before its last one


def test_a_week_arriving_keeps_the_digest_of_earlier_weeks(tmp_path: Path, tiny_world) -> None:
    header, rows = split(tiny_world / schema.TRANSACTIONS_FILE)
    first = "2020-09-16"  # the last week's first day
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, first))
    settings = make_settings(tmp_path / "home")
    ingest(raw, settings, progress=False)
    lake = Lake(settings.paths.lake)
    old_version = lake.current_version()
    last = dt.date.fromisoformat(LAST_WEEK)
    earlier, latest = lake_digest(lake, EARLIER), lake_digest(lake, last)
    assert lake_digest(lake, EARLIER) == earlier  # stable
    assert lake_digest(lake, EARLIER - dt.timedelta(days=7)) != earlier

    drop_week_file(raw, LAST_WEEK, from_day(rows, first), header)
    ingest(raw, settings, progress=False)
    assert lake.current_version() != old_version
    assert lake_digest(lake, EARLIER) == earlier  # what earlier weeks read is the same
    assert lake_digest(lake, last) != latest  # the new week counts


def test_a_corrected_earlier_week_changes_its_digest(tmp_path: Path, tiny_world) -> None:
    header, rows = split(tiny_world / schema.TRANSACTIONS_FILE)
    raw = raw_folder(tmp_path / "raw", tiny_world, rows)
    settings = make_settings(tmp_path / "home")
    ingest(raw, settings, progress=False)
    lake = Lake(settings.paths.lake)
    earlier = lake_digest(lake, EARLIER)
    kept = [r for i, r in enumerate(rows) if not (r[:10] <= EARLIER.isoformat() and i % 5 == 0)]
    raw_folder(tmp_path / "raw2", tiny_world, kept)
    ingest(tmp_path / "raw2", settings, progress=False)
    assert lake_digest(lake, EARLIER) != earlier
