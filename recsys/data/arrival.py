"""Where a delivery lies in the raw folder, and the week rules its transaction files follow.

Layout of the raw folder (``hm ingest --raw RAW``; see :mod:`recsys.data.ingest`)::

    RAW/articles.csv                 the whole catalogue (replaced when it changes)
    RAW/customers.csv                every customer (replaced when it changes)
    RAW/transactions_train.csv       optional: history in Kaggle's format (style a: replaced by
                                     a longer file each week)
    RAW/transactions/YYYY-MM-DD.csv  optional: one file per week (style b), Kaggle's header,
                                     named by the Tuesday closing the week (Wednesday..Tuesday)

At least one transactions file must be there. Each week's rows come from one file only, and a
week file holds rows of its own week only. Any of these files may be gzip (``articles.csv.gz``,
``transactions/2020-09-29.csv.gz``); zip archives are refused with the ``unzip`` command that
extracts them (:mod:`recsys.data.packing`), and so is ``--raw`` naming a zip.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys import schema
from recsys.data import packing
from recsys.data.errors import RawDataError
from recsys.data.partition import week_end_days, week_key

log = logging.getLogger(__name__)
WEEKS_DIR = "transactions"
WEEK_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.csv(\.gz)?$")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Source:
    """One raw file: its name relative to the raw folder, its path and the table it feeds."""

    name: str  # e.g. "transactions_train.csv", "transactions/2020-09-29.csv"
    path: Path
    table: str
    week: str | None = None  # a week file's week (the Tuesday closing it)


@dataclass(frozen=True)
class Delivery:
    """The raw files found in a raw folder."""

    root: Path
    articles: Source
    customers: Source
    transactions: tuple[Source, ...]  # the history file first, then the week files by week

    @property
    def sources(self) -> tuple[Source, ...]:
        """Every file of the delivery."""
        return (self.articles, self.customers, *self.transactions)


def discover(raw_dir: Path) -> Delivery:
    """The delivery in ``raw_dir``; a clear error if a file is missing, empty or misnamed."""
    root = Path(raw_dir)
    if root.is_file() and root.name.endswith(packing.ZIP):
        packing.refuse_zip(root, root.with_name(root.name.removesuffix(packing.ZIP)))
    if not root.is_dir():
        raise RawDataError(root, "raw data folder does not exist", hint="pass --raw DIR")
    articles = _required(root, schema.ARTICLES_FILE, schema.ARTICLES)
    customers = _required(root, schema.CUSTOMERS_FILE, schema.CUSTOMERS)
    transactions = [*_history(root), *_week_files(root / WEEKS_DIR)]
    if not transactions:
        for archive in packing.zips_in(root):
            packing.refuse_zip(archive, root)
        raise RawDataError(
            root / schema.TRANSACTIONS_FILE,
            "file is missing",
            hint=f"the folder has {sorted(p.name for p in root.iterdir())}; put the history in "
            f"{schema.TRANSACTIONS_FILE} and/or week files in {WEEKS_DIR}/YYYY-MM-DD.csv",
        )
    return Delivery(root, articles, customers, tuple(transactions))


def _required(root: Path, file: str, table: str) -> Source:
    """A file that must be there (plain or gzip) and not empty."""
    path = packing.find(root, file)
    if path is None:
        for archive in packing.zips_in(root):
            packing.refuse_zip(archive, root)
        found = sorted(p.name for p in root.iterdir())
        raise RawDataError(root / file, "file is missing", hint=f"the folder has {found}")
    _not_empty(path)
    return Source(path.name, path, table)


def _history(root: Path) -> list[Source]:
    """``transactions_train.csv`` (or ``.csv.gz``) if the folder has it."""
    path = packing.find(root, schema.TRANSACTIONS_FILE)
    if path is None:
        return []
    _not_empty(path)
    return [Source(path.name, path, schema.TRANSACTIONS)]


def _not_empty(path: Path) -> None:
    """Raise for a file of 0 bytes."""
    if path.stat().st_size == 0:
        raise RawDataError(path, "file is empty (0 bytes)")


def _week_files(folder: Path) -> list[Source]:
    """The week files of ``RAW/transactions/`` by week (other files than ``*.csv`` are skipped)."""
    if not folder.is_dir():
        return []
    sources = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(packing.ZIP):
            packing.refuse_zip(path, folder, (), folder.parent)
        if path.name.startswith(".") or not path.name.endswith((".csv", ".csv.gz")):
            log.warning("%s: not a week file (YYYY-MM-DD.csv), skipped", path)
            continue
        sources.append(Source(f"{WEEKS_DIR}/{path.name}", path, schema.TRANSACTIONS, _week(path)))
        _not_empty(path)
    return sources


def _week(path: Path) -> str:
    """The week a week file is named for; raises unless the name is a Tuesday's date."""
    match = WEEK_FILE.match(path.name)
    try:
        day = dt.date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        day = None
    if day is None or schema.week_end(day) != day:
        raise RawDataError(
            path,
            "a week file must be named by the Tuesday that closes its week",
            hint=f"e.g. {WEEKS_DIR}/2020-09-29.csv for Wednesday 2020-09-23 .. Tuesday 2020-09-29",
        )
    return day.isoformat()


Lines = Callable[[Sequence[int]], list[int]]  # a batch's rows -> their lines in the file


def _example(batch: pa.RecordBatch, lines: Lines, rows: np.ndarray) -> list[tuple[int, str]]:
    """(line, row text) for the first few ``rows`` of a typed transactions batch."""
    shown = [int(i) for i in rows[:MAX_EXAMPLES]]
    examples = []
    for line, i in zip(lines(shown), shown, strict=True):
        cells = {c: batch.column(c)[i].as_py() for c in schema.TRANSACTION_COLUMNS}
        cells[schema.CUSTOMER_ID] = f"...{cells[schema.CUSTOMER_ID] & (2**64 - 1):016x}"
        cells[schema.PRICE] = np.float32(cells[schema.PRICE])  # printed as short as float32 is
        examples.append((line, " ".join(f"{k}={v}" for k, v in cells.items())))
    return examples


class WeekOwners:
    """Which file each week's rows come from: a week comes from one file only."""

    def __init__(self, owners: dict[str, str] | None = None) -> None:
        self.owners = dict(owners or {})  # week -> file name

    @classmethod
    def of(cls, records: dict[str, dict]) -> WeekOwners:
        """The owners recorded in a manifest's ``sources`` (file -> {"weeks": {week: rows}})."""
        return cls({week: name for name, r in records.items() for week in r.get("weeks", {})})

    def claim(self, source: Source, lines: Lines, batch: pa.RecordBatch) -> Counter[str]:
        """Check a batch of ``source`` (rows in its own week, weeks not another file's; ``lines``
        gives its rows' lines); returns its rows per week."""
        days = batch.column(schema.T_DAT).cast(pa.int32())
        present = np.flatnonzero(pc.is_valid(days).to_numpy(zero_copy_only=False))
        weeks = week_end_days(pc.fill_null(days, 0).to_numpy().astype(np.int64))[present]
        if source.week is not None:
            named = (np.datetime64(source.week, "D") - np.datetime64(0, "D")).astype(np.int64)
            self._inside(source, lines, batch, present[weeks != named])
        counts: Counter[str] = Counter()
        for week, n in zip(*np.unique(weeks, return_counts=True), strict=True):
            key = week_key(int(week))
            owner = self.owners.setdefault(key, source.name)
            if owner != source.name:
                rows = present[weeks == week]
                raise RawDataError(
                    source.path,
                    f"{len(rows)} row(s) fall in week {key}, which comes from {owner}",
                    schema.T_DAT,
                    _example(batch, lines, rows),
                    hint="each week comes from one file only (in the lake and in the raw folder)",
                )
            counts[key] += int(n)
        return counts

    @staticmethod
    def _inside(source: Source, lines: Lines, batch: pa.RecordBatch, rows: np.ndarray) -> None:
        """Raise if a week file has ``rows`` outside the week it is named for."""
        if not len(rows):
            return
        end = dt.date.fromisoformat(source.week or "")
        raise RawDataError(
            source.path,
            f"{len(rows)} row(s) fall outside the file's week "
            f"{end - dt.timedelta(days=6)} .. {end} (Wednesday..Tuesday)",
            schema.T_DAT,
            _example(batch, lines, rows),
            hint=f"move them to {WEEKS_DIR}/<the Tuesday closing their week>.csv",
        )
