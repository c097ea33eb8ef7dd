"""Candidate rows as LightGBM's inputs, built week file by week file.

Training weeks are never concatenated into one frame: each file's needed columns are read, its
rows ordered by (cutoff, customer) and written straight into one preallocated float32 matrix.
The result is exactly what sorting the concatenation would give (weeks are ordered by cutoff and
each holds cutoffs of its own), at the cost of the matrix plus a few columns of one week.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from recsys import schema
from recsys.ranking.ranker import MatrixBlock, fill_matrix, group_ids
from recsys.ranking.sampling import LABEL
from recsys.ranking.vocab import string_features
from recsys.schema import CUTOFF

KEYS = [CUTOFF, schema.CUSTOMER_ID]
COLUMNS_AT_ONCE = 16  # columns of a week file decoded together


@dataclass
class Groups:
    """Labels of rows in contiguous (cutoff, customer) groups: sizes and each group's customer."""

    labels: np.ndarray
    sizes: np.ndarray
    customers: np.ndarray

    def ids(self) -> np.ndarray:
        """The 0-based group id of each row."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)


Stacked = Callable[[], tuple[np.ndarray, Groups]]  # builds a feature matrix and its groups


@dataclass(frozen=True)
class WeekFile:
    """A candidate frame on disk: its rows and the cutoffs it spans."""

    path: Path
    rows: int
    first: np.datetime64
    last: np.datetime64


def week_files(paths: Sequence[Path]) -> list[WeekFile]:
    """The frames at ``paths`` ordered by cutoff; a file must not share cutoffs with another."""
    files = []
    for path in paths:
        cutoffs = pq.read_table(path, columns=[CUTOFF]).column(CUTOFF).to_numpy()
        if len(cutoffs):  # a week without rows adds nothing
            files.append(WeekFile(Path(path), len(cutoffs), cutoffs.min(), cutoffs.max()))
    files.sort(key=lambda f: (f.first, str(f.path)))
    for before, after in zip(files, files[1:], strict=False):
        if after.first <= before.last:
            raise ValueError(f"{before.path} and {after.path} share cutoffs: one week per file")
    return files


def learn_file_vocab(paths: Sequence[Path]) -> dict[str, list[str]]:
    """Sorted distinct values of each string feature over the frames at ``paths``."""
    names = set(pq.read_schema(paths[0]).names) if paths else set()
    values: dict[str, set[str]] = {c: set() for c in string_features() if c in names}
    for path in paths:
        table = pq.read_table(path, columns=list(values)).to_pandas()
        for col, seen in values.items():
            seen.update(str(v) for v in table[col].dropna().unique())
    return {col: sorted(seen) for col, seen in values.items()}


def stack_files(
    paths: Sequence[Path],
    features: list[str],
    vocab: dict[str, list[str]],
    blocks: Sequence[MatrixBlock] = (),
) -> tuple[np.ndarray, Groups]:
    """The float32 feature matrix (column-major) and groups of the frames at ``paths``, rows
    ordered by (cutoff, customer) as :func:`~recsys.ranking.ranker.sort_groups` orders them.

    Each file is read a few columns at a time: beside the matrix, memory holds one file's keys
    and :data:`COLUMNS_AT_ONCE` of its columns. ``blocks`` (store features of one cutoff, see
    :meth:`~recsys.ranking.features.SnapshotFeatures.blocks`) place their columns by each
    row's key instead of reading them from the files.
    """
    files = week_files(paths)
    if not files:
        raise ValueError(f"no candidate rows in {', '.join(map(str, paths)) or 'no files'}")
    out = np.empty((sum(f.rows for f in files), len(features)), np.float32, order="F")
    placed = {features[j] for block in blocks for j in block.positions}
    keys_read = [*KEYS, schema.ARTICLE_ID] if blocks else KEYS
    parts, start = [], 0
    for file in files:
        keys = pd.read_parquet(file.path, columns=[*keys_read, LABEL])
        order, groups = grouping(keys)
        rows = out[start : start + len(keys)]
        names = set(pq.read_schema(file.path).names) - placed
        present = [name for name in features if name in names]
        rows[:, [j for j, name in enumerate(features) if name not in names]] = np.nan
        for at in range(0, len(present), COLUMNS_AT_ONCE):
            chunk = pd.read_parquet(file.path, columns=present[at : at + COLUMNS_AT_ONCE])
            fill_matrix(rows, chunk, features, vocab, order, absent=None)
        ordered = keys.iloc[order]
        for block in blocks:
            block.place(ordered, rows)
        parts.append(groups)
        start += len(keys)
    return out, Groups(*(np.concatenate(p) for p in zip(*parts, strict=True)))


def file_cutoff(path: Path) -> dt.date:
    """The one cutoff of the candidate frame at ``path`` (a validation week's)."""
    cutoffs = pd.unique(pq.read_table(path, columns=[CUTOFF]).column(CUTOFF).to_numpy())
    if len(cutoffs) != 1:
        raise ValueError(f"{path}: column {CUTOFF} holds {len(cutoffs)} cutoffs, expected one")
    return pd.Timestamp(cutoffs[0]).date()


def stack_frame(
    frame: pd.DataFrame, features: list[str], vocab: dict[str, list[str]]
) -> tuple[np.ndarray, Groups]:
    """:func:`stack_files` of one frame in memory."""
    out = np.empty((len(frame), len(features)), np.float32, order="F")
    order, groups = grouping(frame[[*KEYS, LABEL]])
    fill_matrix(out, frame, features, vocab, order)
    return out, Groups(*groups)


def grouping(keys: pd.DataFrame) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The row order by (cutoff, customer) of a frame's ``keys`` and label columns; in that
    order, the labels, the group sizes and each group's customer."""
    cutoffs = keys[CUTOFF].to_numpy().astype("int64")
    order = np.lexsort((keys[schema.CUSTOMER_ID].to_numpy(), cutoffs))  # stable
    ordered = keys.iloc[order]
    groups = group_ids(ordered)
    first = np.r_[True, np.diff(groups) != 0] if len(groups) else np.zeros(0, bool)
    labels = ordered[LABEL].to_numpy()
    customers = ordered[schema.CUSTOMER_ID].to_numpy()[first]
    return order, (labels, np.bincount(groups), customers)
