"""How a new week arrives: week files and longer history files append to the lake."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import recsys.settings
from recsys import schema
from recsys.data import raw as raw_module
from recsys.data.errors import RawDataError, ValidationFailed
from recsys.data.ingest import ingest, validate_live, validation_key
from recsys.data.lake import Lake
from tests.conftest import make_settings

TX = schema.TRANSACTIONS_FILE
LAST_WEEK = "2020-09-22"  # the tiny world's last week: Wednesday 2020-09-16 .. Tuesday 2020-09-22


def split(path: Path) -> tuple[str, list[str]]:
    """Header and data lines of a CSV file (line ``n`` of the file is ``rows[n - 2]``)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[0], lines[1:]


def raw_folder(target: Path, tiny_world: Path, history: list[str] | None) -> Path:
    """A raw folder with the tiny world's articles and customers and the given history rows."""
    target.mkdir(parents=True)
    for name in (schema.ARTICLES_FILE, schema.CUSTOMERS_FILE):
        shutil.copy2(tiny_world / name, target / name)
    if history is not None:
        header, _ = split(tiny_world / TX)
        (target / TX).write_text(header + "".join(history), encoding="utf-8")
    return target


def drop_week_file(raw: Path, week: str, rows: list[str], header: str) -> Path:
    """Write ``RAW/transactions/<week>.csv``."""
    path = raw / "transactions" / f"{week}.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def before(rows: list[str], day: str) -> list[str]:
    return [r for r in rows if r[:10] < day]


def from_day(rows: list[str], day: str) -> list[str]:
    return [r for r in rows if r[:10] >= day]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (file name, byte offset) the CSV reader parses during the test."""
    calls: list[tuple[str, int]] = []
    original = raw_module.stream_typed

    def recording(path, spec, block_mb=64, progress=True, offset=0, first_line=2, known=None):
        calls.append((Path(path).name, offset))
        return original(path, spec, block_mb, progress, offset, first_line, known)

    monkeypatch.setattr(raw_module, "stream_typed", recording)
    return calls


def part(lake: Lake, week: str, version: str | None = None) -> Path:
    folder = lake.versions_dir / version if version else lake.current_dir()
    return folder / schema.TRANSACTIONS / f"{schema.WEEK}={week}" / "part-0.parquet"


def assert_same_lake(lake: Lake, reference: Lake) -> None:
    """Same tables, same weekly partitions (row for row), same rows and dates in the manifest."""
    assert lake.weeks() == reference.weeks()
    for table in (schema.ARTICLES, schema.CUSTOMERS, schema.TRANSACTIONS):
        assert lake.read(table).equals(reference.read(table)), table
    for week in lake.weeks():
        assert pq.read_table(part(lake, week)).equals(pq.read_table(part(reference, week))), week
    mine, theirs = lake.manifest(), reference.manifest()
    for key in ("rows", "first_date", "last_date"):
        assert mine[key] == theirs[key], key


def test_the_same_files_on_a_later_day_are_not_a_new_version(settings, tiny_world, monkeypatch):
    live = Lake(settings.paths.lake).current_version()
    monkeypatch.setattr(recsys.settings, "today", lambda: dt.date.today() + dt.timedelta(days=400))
    again = ingest(tiny_world, settings, progress=False)
    assert again.skipped and again.version == live
    explicit = make_settings(settings.home, date_max=dt.date(2021, 1, 1))
    assert not ingest(tiny_world, explicit, progress=False).skipped  # an explicit bound counts


def test_only_explicit_validation_settings_make_the_key(tmp_path, monkeypatch):
    assert validation_key(make_settings(tmp_path)) == ""
    monkeypatch.setattr(recsys.settings, "today", lambda: dt.date(2031, 1, 1))
    assert validation_key(make_settings(tmp_path)) == ""
    key = validation_key(make_settings(tmp_path, price_max=2.0, date_max=dt.date(2020, 9, 22)))
    assert key == "price_max=2.0;date_max=2020-09-22"


def test_dates_are_still_checked_against_today(settings, tiny_world, monkeypatch):
    monkeypatch.setattr(recsys.settings, "today", lambda: dt.date(2020, 9, 20))
    with pytest.raises(ValidationFailed) as info:
        ingest(tiny_world, settings, progress=False, force=True)
    assert "t_dat" in info.value.report.describe_failures()


def test_a_same_size_edit_in_the_middle_is_a_new_version(settings, raw_copy):
    lake = Lake(settings.paths.lake)
    live = lake.current_version()
    path = raw_copy / TX
    header, rows = split(path)
    middle = len(rows) // 2
    channel = rows[middle].rstrip("\n").rsplit(",", 1)[1]
    other = "1" if channel == "2" else "2"
    rows[middle] = rows[middle].rstrip("\n")[:-1] + other + "\n"
    size = path.stat().st_size
    path.write_text(header + "".join(rows), encoding="utf-8")
    assert path.stat().st_size == size
    result = ingest(raw_copy, settings, progress=False)
    assert result.published and result.version != live and result.mode == "full"
    channels = lake.read(schema.TRANSACTIONS).column(schema.SALES_CHANNEL_ID).to_pylist()
    assert channels[middle] == int(other)


def test_a_week_file_appends_one_week_and_links_the_others(
    tmp_path, tiny_world, published_home, reads
):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, "2020-09-16"))
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    first = ingest(raw, settings, progress=False)
    old_weeks, old_manifest = lake.weeks(), lake.manifest()
    drop_week_file(raw, LAST_WEEK, from_day(rows, "2020-09-16"), header)
    reads.clear()
    second = ingest(raw, settings, progress=False)

    assert second.published and second.mode == "append"
    assert reads == [(f"{LAST_WEEK}.csv", 0)]  # neither the history nor articles/customers
    assert lake.weeks() == [*old_weeks, LAST_WEEK] and second.weeks == first.weeks + 1
    for week in old_weeks:
        assert part(lake, week).stat().st_ino == part(lake, week, first.version).stat().st_ino
    assert_same_lake(lake, Lake(published_home / "lake"))
    assert second.rows[schema.TRANSACTIONS] == len(rows)
    manifest = lake.manifest()
    assert manifest["sources"][f"transactions/{LAST_WEEK}.csv"]["weeks"] == {
        LAST_WEEK: len(from_day(rows, "2020-09-16"))
    }
    assert (lake.versions_dir / first.version / "manifest.json").exists()
    assert Lake(settings.paths.lake).manifest()["version"] == second.version
    assert old_manifest["version"] == first.version
    assert ingest(raw, settings, progress=False).skipped
    assert validate_live(settings).success


def test_a_longer_history_file_parses_only_its_tail(tmp_path, tiny_world, published_home, reads):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, "2020-09-19"))  # mid-week
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    first = ingest(raw, settings, progress=False)
    old_size = (raw / TX).stat().st_size
    shutil.copy2(tiny_world / TX, raw / TX)  # the same file with the rest of the week appended
    reads.clear()
    second = ingest(raw, settings, progress=False)

    assert second.mode == "append" and reads == [(TX, old_size)]
    assert lake.manifest()["ingest"]["weeks_rewritten"] == [LAST_WEEK]
    assert part(lake, LAST_WEEK).stat().st_ino != part(lake, LAST_WEEK, first.version).stat().st_ino
    assert_same_lake(lake, Lake(published_home / "lake"))
    assert lake.manifest()["sources"][TX]["lines"] == len(rows) + 1


def test_a_changed_prefix_falls_back_to_a_full_ingest(tmp_path, tiny_world, published_home, reads):
    header, rows = split(tiny_world / TX)
    history = before(rows, "2020-09-19")
    history[100] = history[100].replace(",2\n", ",1\n")  # another sales channel on line 102
    raw = raw_folder(tmp_path / "raw", tiny_world, history)
    settings = make_settings(tmp_path / "home")
    ingest(raw, settings, progress=False)
    shutil.copy2(tiny_world / TX, raw / TX)
    reads.clear()
    result = ingest(raw, settings, progress=False)

    assert result.mode == "full" and "changed before its end" in result.reason
    assert (TX, 0) in reads
    assert_same_lake(Lake(settings.paths.lake), Lake(published_home / "lake"))


def test_errors_in_a_tail_name_the_files_real_lines(tmp_path, tiny_world):
    header, rows = split(tiny_world / TX)
    history = before(rows, "2020-09-19")
    raw = raw_folder(tmp_path / "raw", tiny_world, history)
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    live = ingest(raw, settings, progress=False).version
    tail = from_day(rows, "2020-09-19")
    bad_line = len(history) + 2 + 3  # the 4th appended row
    cells = tail[3].split(",")
    cells[3] = "-0.05"
    tail[3] = ",".join(cells)
    (raw / TX).write_text(header + "".join(history + tail), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        ingest(raw, settings, progress=False)
    failure = next(f for f in info.value.report.failures if f.column == schema.PRICE)
    assert failure.file == TX and [ex["line"] for ex in failure.examples] == [bad_line]
    cells[3] = "abc"
    tail[3] = ",".join(cells)
    (raw / TX).write_text(header + "".join(history + tail), encoding="utf-8")
    with pytest.raises(RawDataError, match=f"line {bad_line}: 'abc'"):
        ingest(raw, settings, progress=False)
    assert lake.current_version() == live


def test_a_week_file_with_a_row_outside_its_week_is_refused(tmp_path, tiny_world):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, "2020-09-16"))
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    live = ingest(raw, settings, progress=False).version
    listing = sorted(p.name for p in lake.root.iterdir())
    week = from_day(rows, "2020-09-16")
    week.insert(5, "2020-09-23" + week[5][10:])  # a Wednesday: next week, on line 7
    drop_week_file(raw, LAST_WEEK, week, header)
    with pytest.raises(RawDataError) as info:
        ingest(raw, settings, progress=False)
    message = str(info.value)
    assert f"transactions/{LAST_WEEK}.csv" in message and "column 't_dat'" in message
    assert "line 7: t_dat=2020-09-23" in message and "outside the file's week" in message
    assert lake.current_version() == live
    assert sorted(p.name for p in lake.root.iterdir()) == listing


def test_a_week_already_in_the_lake_from_another_file_is_refused(tmp_path, tiny_world):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, rows)
    settings = make_settings(tmp_path / "home")
    live = ingest(raw, settings, progress=False).version
    drop_week_file(raw, LAST_WEEK, from_day(rows, "2020-09-21"), header)
    with pytest.raises(RawDataError) as info:
        ingest(raw, settings, progress=False)
    message = str(info.value)
    assert f"{LAST_WEEK}.csv" in message and f"which comes from {TX}" in message
    assert "column 't_dat'" in message and "line 2: t_dat=2020-09-21" in message
    assert Lake(settings.paths.lake).current_version() == live


def test_week_files_alone_make_the_whole_lake(tmp_path, tiny_world, published_home):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, None)
    weeks: dict[str, list[str]] = {}
    for row in rows:
        week = schema.week_end(dt.date.fromisoformat(row[:10])).isoformat()
        weeks.setdefault(week, []).append(row)
    for week, week_rows in weeks.items():
        drop_week_file(raw, week, week_rows, header)
    settings = make_settings(tmp_path / "home")
    result = ingest(raw, settings, progress=False)
    assert result.mode == "full" and result.weeks == len(weeks)
    assert_same_lake(Lake(settings.paths.lake), Lake(published_home / "lake"))


def test_a_week_file_not_named_by_a_tuesday_is_refused(tmp_path, tiny_world):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, rows)
    drop_week_file(raw, "2020-09-23", rows[:3], header)
    with pytest.raises(RawDataError, match="named by the Tuesday"):
        ingest(raw, make_settings(tmp_path / "home"), progress=False)


def test_new_customers_alone_link_every_week(tmp_path, tiny_world, reads):
    raw = raw_folder(tmp_path / "raw", tiny_world, split(tiny_world / TX)[1])
    customers = raw / schema.CUSTOMERS_FILE
    header, people = split(customers)
    customers.write_text(header + "".join(people[:-10]), encoding="utf-8")  # 10 join later
    kept = {line.split(",")[0] for line in people[:-10]}
    history = [r for r in split(tiny_world / TX)[1] if r.split(",")[1] in kept]
    (raw / TX).write_text(split(tiny_world / TX)[0] + "".join(history), encoding="utf-8")
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    first = ingest(raw, settings, progress=False)
    shutil.copy2(tiny_world / schema.CUSTOMERS_FILE, customers)
    reads.clear()
    second = ingest(raw, settings, progress=False)
    assert second.mode == "append" and reads == [(schema.CUSTOMERS_FILE, 0)]
    assert second.rows[schema.CUSTOMERS] == first.rows[schema.CUSTOMERS] + 10
    assert second.rows[schema.TRANSACTIONS] == first.rows[schema.TRANSACTIONS]
    for week in lake.weeks():
        assert part(lake, week).stat().st_ino == part(lake, week, first.version).stat().st_ino


def test_customers_dropping_an_id_in_use_fall_back_to_a_full_ingest(tmp_path, tiny_world):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, "2020-09-16"))
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    live = ingest(raw, settings, progress=False).version
    buyer = rows[0].split(",")[1]
    customers = raw / schema.CUSTOMERS_FILE
    people_header, people = split(customers)
    customers.write_text(
        people_header + "".join(p for p in people if not p.startswith(buyer)), encoding="utf-8"
    )
    drop_week_file(raw, LAST_WEEK, from_day(rows, "2020-09-16"), header)
    with pytest.raises(ValidationFailed) as info:
        ingest(raw, settings, progress=False)
    failure = next(f for f in info.value.report.failures if f.column == schema.CUSTOMER_ID)
    first = failure.examples[0]  # the history is validated again
    assert (first["file"], first["line"]) == (TX, 2) and failure.file.startswith(TX)
    assert lake.current_version() == live


def test_hard_links_leave_the_live_version_untouched(tmp_path, tiny_world):
    header, rows = split(tiny_world / TX)
    raw = raw_folder(tmp_path / "raw", tiny_world, before(rows, "2020-09-19"))
    settings = make_settings(tmp_path / "home")
    lake = Lake(settings.paths.lake)
    first = ingest(raw, settings, progress=False).version
    snapshot = {p: p.read_bytes() for p in (lake.versions_dir / first).rglob("*") if p.is_file()}
    shutil.copy2(tiny_world / TX, raw / TX)
    ingest(raw, settings, progress=False)
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert all(os.stat(p).st_nlink == 2 for p in snapshot if "2020-09-15" in str(p))
