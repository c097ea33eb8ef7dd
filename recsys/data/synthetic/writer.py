"""Writing the three files byte-for-byte in Kaggle's format (transactions streamed in chunks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recsys import schema
from recsys.data.synthetic.customers import Customers
from recsys.data.synthetic.pricing import PriceTexts
from recsys.data.synthetic.transactions import Purchases

PARTIAL_SUFFIX = ".partial"
TEXT_COLUMNS = [
    (schema.T_DAT, pa.string()),
    (schema.CUSTOMER_ID, pa.string()),
    (schema.ARTICLE_ID, pa.string()),
    (schema.PRICE, pa.string()),
    (schema.SALES_CHANNEL_ID, pa.int8()),
]


def _options() -> pacsv.WriteOptions:
    """Plain CSV rows: no quotes (no value contains a comma), empty fields for missing values."""
    return pacsv.WriteOptions(include_header=False, quoting_style="none")


def _open(path: Path, columns: list[str]) -> pa.NativeFile:
    """A binary output file with the unquoted header line already written (as Kaggle has it)."""
    sink = pa.OSFile(str(path), "wb")
    sink.write((",".join(columns) + "\n").encode())
    return sink


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Write to ``path + .partial`` and move it into place only when the block succeeds."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_articles(frame: pd.DataFrame, path: Path) -> None:
    """``articles.csv``: pandas-style CSV, quoting only the texts that need it."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


def _flag(values: np.ndarray) -> pa.Array:
    """1.0 where true, empty where false (Kaggle's FN / Active)."""
    return pa.array(np.where(values, "1.0", None), type=pa.string())


def write_customers(cust: Customers, path: Path) -> None:
    """``customers.csv``: 7 columns, missing values as empty fields."""
    age = np.char.add(np.nan_to_num(cust.age, nan=0).astype(np.int64).astype(str), ".0")
    columns = {
        schema.CUSTOMER_ID: cust.hex_id,
        "FN": _flag(cust.fn),
        "Active": _flag(cust.active),
        "club_member_status": pa.array(cust.club_status, type=pa.string()),
        "fashion_news_frequency": pa.array(cust.news, type=pa.string()),
        "age": pa.array(age, mask=np.isnan(cust.age), type=pa.string()),
        "postal_code": cust.postal_code,
    }
    table = pa.table({c: columns[c] for c in schema.CUSTOMER_COLUMNS})
    with atomic_path(path) as tmp, _open(tmp, schema.CUSTOMER_COLUMNS) as sink:
        pacsv.write_csv(table, sink, _options())


class TransactionWriter:
    """Streams :class:`Purchases` chunks into ``transactions_train.csv``."""

    def __init__(
        self, path: Path, days: pa.Array, customers: pa.Array, article_ids: np.ndarray
    ) -> None:
        """Open ``path`` (as ``path.partial``); rows refer to days, customers, articles by index."""
        self._days, self._customers = days, customers
        self._articles = pa.array([f"{a:010d}" for a in article_ids.tolist()], type=pa.string())
        self._prices = PriceTexts()
        self._schema = pa.schema(TEXT_COLUMNS)
        self._path = path
        self._partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self._sink = _open(self._partial, schema.TRANSACTION_COLUMNS)
        self._writer = pacsv.CSVWriter(self._sink, self._schema, write_options=_options())
        self.rows = 0

    def write(self, rows: Purchases) -> None:
        """Append ``rows`` (already sorted)."""
        arrays = [
            self._days.take(pa.array(rows.day)),
            self._customers.take(pa.array(rows.customer)),
            self._articles.take(pa.array(rows.article)),
            self._prices.format(rows.ore),
            pa.array(rows.channel, type=pa.int8()),
        ]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        self.rows += len(rows)

    def close(self, ok: bool = True) -> None:
        """Finish the file (moved into place only if ``ok``)."""
        self._writer.close()
        self._sink.close()
        if ok:
            os.replace(self._partial, self._path)
        else:
            self._partial.unlink(missing_ok=True)
