"""Reading raw Kaggle CSVs: real format quirks parse, broken files fail clearly."""

from pathlib import Path

import pytest

from recsys import schema
from recsys.data.errors import RawDataError
from recsys.data.raw import SPECS, raw_paths, read_typed

CID = "000fe0cb78750fe7a65aa52943df29b6b781016fda241685fb814e2fc0f427a1"
HEADER = "t_dat,customer_id,article_id,price,sales_channel_id\n"
GOOD = f"2020-09-20,{CID},0108775015,0.0508305084745762,2\n"
TX = SPECS[schema.TRANSACTIONS]


def write(tmp_path: Path, body: bytes | str, name: str = "transactions_train.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return path


def test_types_and_leading_zero_article_ids(tmp_path):
    table = read_typed(write(tmp_path, HEADER + GOOD + GOOD.replace("0108775015", "108775015")), TX)
    assert table.schema.equals(schema.TRANSACTION_SCHEMA)
    assert table.column(schema.ARTICLE_ID).to_pylist() == [108775015, 108775015]
    assert str(table.column(schema.T_DAT)[0]) == "2020-09-20"


@pytest.mark.parametrize("folder", ["sample_1364", "kaggle_head"])
def test_real_kaggle_files_parse(real_data, folder):
    paths = raw_paths(real_data / folder)
    tables = {name: read_typed(path, SPECS[name]) for name, path in paths.items()}
    assert tables[schema.ARTICLES].num_rows > 4000
    assert tables[schema.CUSTOMERS].column(schema.CUSTOMER_HEX)[0].as_py().islower()
    assert tables[schema.TRANSACTIONS].num_rows >= 10_000


@pytest.mark.parametrize(
    ("body", "column", "needle"),
    [
        (HEADER + GOOD + GOOD.replace("0.0508305084745762", "abc"), "price", "line 3: 'abc'"),
        (HEADER + GOOD.replace("2020-09-20", "2020-13-01"), "t_dat", "line 2: '2020-13-01'"),
        (HEADER + GOOD.replace(",2\n", ",300\n"), "sales_channel_id", "line 2: '300'"),
        (HEADER + GOOD.replace(CID, CID[:40]), "customer_id", "64-character"),
        (HEADER + GOOD.replace("0108775015", "01087x5015"), "article_id", "line 2"),
    ],
    ids=["price-not-a-number", "impossible-date", "int8-overflow", "short-customer-id", "bad-id"],
)
def test_wrong_types_name_file_column_and_line(tmp_path, body, column, needle):
    with pytest.raises(RawDataError) as info:
        read_typed(write(tmp_path, body), TX)
    message = str(info.value)
    assert "transactions_train.csv" in message and f"column '{column}'" in message
    assert needle in message


def test_truncated_last_line(tmp_path):
    with pytest.raises(RawDataError, match="wrong number of fields") as info:
        read_typed(write(tmp_path, HEADER + GOOD * 3 + GOOD[:30]), TX)
    assert "truncated" in str(info.value) and GOOD[:30] in str(info.value)


def test_missing_column_names_it(tmp_path):
    body = HEADER.replace(",price", "") + GOOD.replace(",0.0508305084745762", "")
    with pytest.raises(RawDataError, match=r"missing column\(s\) \['price'\]"):
        read_typed(write(tmp_path, body), TX)


def test_header_only_file(tmp_path):
    with pytest.raises(RawDataError, match="no data rows"):
        read_typed(write(tmp_path, HEADER), TX)


def test_non_utf8_bytes_name_the_line(tmp_path, real_data):
    articles = (real_data / "sample_1364" / "articles.csv").read_bytes().splitlines(True)[:4]
    articles[2] = articles[2].replace(b"Strap top", b"Str\xe9p top")
    path = write(tmp_path, b"".join(articles), "articles.csv")
    with pytest.raises(RawDataError, match="not valid UTF-8") as info:
        read_typed(path, SPECS[schema.ARTICLES])
    assert "column 'prod_name'" in str(info.value) and "line 3" in str(info.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(RawDataError, match="does not exist"):
        raw_paths(tmp_path / "nope")
    for name in schema.RAW_FILES:
        write(tmp_path, "x\n", name)
    (tmp_path / schema.CUSTOMERS_FILE).unlink()
    with pytest.raises(RawDataError, match="customers.csv: file is missing"):
        raw_paths(tmp_path)
    write(tmp_path, b"", schema.CUSTOMERS_FILE)
    with pytest.raises(RawDataError, match="customers.csv: file is empty"):
        raw_paths(tmp_path)
