"""Raw files as downloaded: gzip files are read as they are; zips are refused with the fix."""

import gzip
import shutil
import zipfile
from pathlib import Path

import pytest

from recsys import schema
from recsys.data.arrival import discover
from recsys.data.errors import RawDataError
from recsys.data.ingest import ingest
from recsys.data.lake import Lake
from recsys.data.raw import SPECS, read_typed
from tests.conftest import make_settings

TX = schema.TRANSACTIONS_FILE


def gzip_file(path: Path) -> Path:
    """Replace ``path`` by ``path.gz``."""
    packed = path.with_name(path.name + ".gz")
    packed.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return packed


def test_gzip_files_read_like_the_plain_ones(tmp_path, tiny_world):
    for table, spec in SPECS.items():
        plain = read_typed(tiny_world / spec.file, spec)
        packed = tmp_path / f"{spec.file}.gz"
        packed.write_bytes(gzip.compress((tiny_world / spec.file).read_bytes()))
        assert read_typed(packed, spec).equals(plain), table


def test_a_gzip_error_names_its_line(tmp_path):
    body = "t_dat,customer_id,article_id,price,sales_channel_id\n" + "\n" * 2
    body += f"2020-09-20,{'a' * 64},0108775015,0.05,0x2\n"
    path = tmp_path / f"{TX}.gz"
    path.write_bytes(gzip.compress(body.encode()))
    with pytest.raises(RawDataError, match="line 4: '0x2'"):
        read_typed(path, SPECS[schema.TRANSACTIONS])


def test_a_gzip_raw_folder_ingests_and_a_longer_gzip_history_is_ingested_in_full(
    tmp_path, tiny_world
):
    raw = tmp_path / "raw"
    raw.mkdir()
    header, *rows = (tiny_world / TX).read_text(encoding="utf-8").splitlines(keepends=True)
    (raw / TX).write_text(header + "".join(rows[:-50]), encoding="utf-8")
    for name in (schema.ARTICLES_FILE, schema.CUSTOMERS_FILE):
        shutil.copy2(tiny_world / name, raw / name)
        gzip_file(raw / name)
    gzip_file(raw / TX)
    settings = make_settings(tmp_path / "home")
    first = ingest(raw, settings, progress=False)
    assert first.published and first.rows[schema.TRANSACTIONS] == len(rows) - 50
    (raw / f"{TX}.gz").write_bytes(gzip.compress((header + "".join(rows)).encode()))
    second = ingest(raw, settings, progress=False)
    assert second.mode == "full" and "gzip" in second.reason
    assert Lake(settings.paths.lake).manifest()["rows"][schema.TRANSACTIONS] == len(rows)


def test_a_zip_is_refused_with_the_command_that_extracts_it(tmp_path, tiny_world):
    archive = tmp_path / "h-and-m-personalized-fashion-recommendations.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in schema.RAW_FILES:
            z.write(tiny_world / name, name)
    with pytest.raises(RawDataError, match="unzip") as info:
        discover(archive)
    members = " ".join(schema.RAW_FILES)
    assert f"unzip -o {archive} {members} -d {archive.with_suffix('')}" in str(info.value)
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.move(archive, raw / archive.name)
    with pytest.raises(RawDataError, match="unzip"):
        discover(raw)


def test_a_per_file_zip_is_refused_not_taken_for_a_missing_file(tmp_path, tiny_world):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_world, raw)
    with zipfile.ZipFile(raw / f"{TX}.zip", "w") as z:
        z.write(raw / TX, TX)
    (raw / TX).unlink()
    with pytest.raises(RawDataError, match=rf"unzip -o .*{TX}\.zip {TX} -d"):
        discover(raw)
