"""Writing transactions into one Parquet file per week (``week=YYYY-MM-DD``, its Tuesday).

A new lake version may start from the live one: weeks that get no new rows are hard links of the
live version's files (:func:`link_partitions`), a week that gets new rows is rewritten as its
live rows followed by the new ones (``previous`` of :class:`WeekPartitionWriter`).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys import schema

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def week_end_days(days: np.ndarray) -> np.ndarray:
    """Vectorised :func:`recsys.schema.week_end` on days since the epoch."""
    weekday = (days + _EPOCH_WEEKDAY) % 7
    return days + (schema.WEEK_END_WEEKDAY - weekday) % 7


def week_key(day_number: int) -> str:
    """The partition key (ISO date) of a week-end given as days since the epoch."""
    return (np.datetime64(int(day_number), "D")).astype(str)


class WeekPartitionWriter:
    """Streams typed transaction batches into ``root/week=<tuesday>/part-0.parquet`` files."""

    def __init__(
        self,
        root: Path,
        table_schema: pa.Schema = schema.TRANSACTION_SCHEMA,
        previous: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.schema = table_schema
        self.previous = previous  # the live version's transactions folder, when appending
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.rewritten: list[str] = []  # weeks of ``previous`` that got new rows
        self.rows = 0

    def _writer(self, week: int) -> pq.ParquetWriter:
        """The open writer of one week, created on first use."""
        if week not in self.writers:
            folder = self.root / f"{schema.WEEK}={week_key(week)}"
            folder.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(folder / "part-0.parquet", self.schema, compression="zstd")
            self.writers[week] = writer
            old = sorted((self.previous / folder.name).glob("*.parquet")) if self.previous else []
            for part in old:
                writer.write_table(pq.read_table(part, schema=self.schema))
            if old:
                self.rewritten.append(week_key(week))
        return self.writers[week]

    def write(self, batch: pa.RecordBatch) -> None:
        """Split a batch by week and append each part to its week's file."""
        # missing dates land in the epoch's week; validation rejects them before publishing
        days = pc.fill_null(batch.column(schema.T_DAT).cast(pa.int32()), 0).to_numpy()
        weeks = week_end_days(days.astype(np.int64))
        if len(weeks) and weeks.min() == weeks.max():  # common case: sorted input, one week
            self._writer(int(weeks[0])).write_batch(batch)
        else:
            for week in np.unique(weeks):
                part = batch.filter(pa.array(weeks == week))
                self._writer(int(week)).write_batch(part)
        self.rows += batch.num_rows

    def close(self) -> list[str]:
        """Close every file; returns the week keys written."""
        for writer in self.writers.values():
            writer.close()
        keys = sorted(week_key(w) for w in self.writers)
        self.writers = {}
        return keys


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target``; copy it where links are impossible (another disk)."""
    try:
        os.link(source, target)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(source, target)


def link_partitions(previous: Path, root: Path, skip: set[str]) -> list[str]:
    """Link the week folders of ``previous`` into ``root``, but those in ``skip``; their keys.

    The linked files are shared with the live version: they must never be written in place.
    """
    linked = []
    for folder in sorted(Path(previous).glob(f"{schema.WEEK}=*")):
        key = folder.name.split("=", 1)[1]
        if key in skip:
            continue
        (root / folder.name).mkdir(parents=True)
        for part in sorted(folder.iterdir()):
            link_or_copy(part, root / folder.name / part.name)
        linked.append(key)
    return linked
