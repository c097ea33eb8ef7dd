"""Raw format quirks: integral decimals, hex and non-ISO dates, blank lines, multi-line values."""

import csv
import io
from pathlib import Path

import pytest

from recsys import schema
from recsys.data.errors import RawDataError, ValidationFailed
from recsys.data.ingest import ingest
from recsys.data.lake import Lake
from recsys.data.raw import SPECS, read_typed

CID = "000fe0cb78750fe7a65aa52943df29b6b781016fda241685fb814e2fc0f427a1"
HEADER = "t_dat,customer_id,article_id,price,sales_channel_id\n"
GOOD = f"2020-09-20,{CID},0108775015,0.0508305084745762,2\n"
TX = SPECS[schema.TRANSACTIONS]
ARTICLES = SPECS[schema.ARTICLES]


def write(folder: Path, body: str, name: str = schema.TRANSACTIONS_FILE) -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def refusal(path: Path, spec=TX, block_mb: int = 64) -> str:
    with pytest.raises(RawDataError) as info:
        read_typed(path, spec, block_mb)
    return str(info.value)


def test_an_exactly_integral_decimal_is_an_integer(tmp_path):
    body = (
        HEADER + GOOD + GOOD.replace(",2\n", ",2.0\n") + GOOD.replace("0108775015", "108775015.00")
    )
    table = read_typed(write(tmp_path, body), TX)
    assert table.column(schema.SALES_CHANNEL_ID).to_pylist() == [2, 2, 2]
    assert table.column(schema.ARTICLE_ID).to_pylist() == [108775015] * 3


@pytest.mark.parametrize(
    ("cell", "old", "column"),
    [
        ("2.5", ",2\n", "sales_channel_id"),
        ("0x2", ",2\n", "sales_channel_id"),
        ("1e3", "0108775015", "article_id"),
        ("2020-3-25", "2020-09-20", "t_dat"),
    ],
)
def test_refused_cells_are_shown_with_their_lines(tmp_path, cell, old, column):
    new = f",{cell}\n" if old.startswith(",") else cell
    message = refusal(write(tmp_path, HEADER + GOOD * 3 + GOOD.replace(old, new) + GOOD))
    assert f"column '{column}'" in message and "1 value(s)" in message
    assert f"line 5: '{cell}'" in message


def test_a_date_must_be_iso_and_the_hint_says_so(tmp_path):
    message = refusal(write(tmp_path, HEADER + GOOD.replace("2020-09-20", "2020-3-25")))
    assert "YYYY-MM-DD" in message


def test_blank_lines_do_not_shift_the_lines_named(tmp_path):
    bad = GOOD.replace("0.0508305084745762", "abc")
    body = HEADER + "\n" + GOOD + "\n\n" + GOOD + bad  # the bad row is on line 7
    message = refusal(write(tmp_path, body))
    assert "line 7: 'abc'" in message
    assert read_typed(write(tmp_path, body.replace(bad, GOOD)), TX).num_rows == 3


def article(article_id: int, desc: str, index_code: str = "A") -> str:
    """An articles.csv row (Kaggle's 25 columns), ``desc`` quoted."""
    cells = [str(article_id), str(article_id // 1000), "Strap top", "253", "Vest top"]
    cells += ["Garment Upper body", "1010016", "Solid", "9", "Black", "4", "Dark", "5", "Black"]
    cells += ["1676", "Jersey Basic", index_code, "Ladieswear", "1", "Ladieswear", "16"]
    cells += ["Womens Everyday Basics", "1002", "Jersey Basic", '"' + desc.replace('"', '""') + '"']
    return ",".join(cells) + "\n"


def articles_file(folder: Path, rows: int, lines_per_desc: int) -> Path:
    """An articles.csv whose quoted descriptions span ``lines_per_desc`` lines each."""
    desc = "\n".join(f'Line {i} of a "long", quoted description.' + " x" * 300 for i in range(3))
    desc = "\n".join(desc.split("\n")[:lines_per_desc])
    header = ",".join(schema.ARTICLE_COLUMNS) + "\n"
    body = "".join(article(108775015 + i, desc) for i in range(rows))
    return write(folder, header + body, schema.ARTICLES_FILE)


def test_multi_line_values_across_csv_blocks_are_read(tmp_path):
    path = articles_file(tmp_path, 2500, lines_per_desc=3)  # ~4.5 MB: several 1 MiB blocks
    table = read_typed(path, ARTICLES, block_mb=1)
    assert table.num_rows == 2500
    assert table.column("detail_desc")[2499].as_py().count("\n") == 2


def test_lines_are_counted_across_multi_line_values(tmp_path):
    path = articles_file(tmp_path, 100, lines_per_desc=3)
    text = path.read_text(encoding="utf-8")
    rows = text.split("\n108775")
    rows[67] = rows[67].replace(",Solid,9,", ",Solid,nine,", 1)  # the 67th article
    path.write_text("\n108775".join(rows), encoding="utf-8")
    assert "line 200: 'nine'" in refusal(path, ARTICLES, block_mb=1)  # 2 + 66 * 3


def test_a_multi_line_value_in_transactions_is_refused_with_its_line(tmp_path):
    split = GOOD.replace(CID, f'"{CID[:30]}\n{CID[30:]}"')
    message = refusal(write(tmp_path, HEADER + GOOD * 3 + "\n" + split + GOOD))
    assert "line 6" in message


def test_validation_names_physical_lines_after_multi_line_rows(settings, raw_copy):
    path = raw_copy / schema.ARTICLES_FILE
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[1][-1] = "first line\nsecond line\nthird line"  # article 1 spans lines 2-4
    rows[10][rows[0].index("index_code")] = "Z"  # article 10: line 13
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    live = Lake(settings.paths.lake).current_version()
    with pytest.raises(ValidationFailed) as info:
        ingest(raw_copy, settings, progress=False)
    failure = next(f for f in info.value.report.failures if f.column == "index_code")
    assert [e["line"] for e in failure.examples] == [13]
    assert Lake(settings.paths.lake).current_version() == live
