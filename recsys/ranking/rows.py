"""Candidate rows as LightGBM's inputs, built week file by week file.

Training weeks are never concatenated into one frame: each file's needed columns are read, its
rows ordered by (cutoff, customer) and written straight into one preallocated float32 matrix.
The result is exactly what sorting the concatenation would give (weeks are ordered by cutoff and
each holds cutoffs of its own), at the cost of the matrix plus one week's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from recsys import schema
from recsys.ranking.ranker import fill_matrix, group_ids
from recsys.ranking.sampling import LABEL
from recsys.ranking.vocab import string_features
from recsys.schema import CUTOFF

KEYS = [CUTOFF, schema.CUSTOMER_ID]


@dataclass
class Groups:
    """Labels of rows in contiguous (cutoff, customer) groups: sizes and each group's customer."""

    labels: np.ndarray
    sizes: np.ndarray
    customers: np.ndarray

    def ids(self) -> np.ndarray:
        """The 0-based group id of each row."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)


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


def read_rows(path: Path, features: Sequence[str]) -> pd.DataFrame:
    """The columns of the frame at ``path`` that ranking reads (features it has, label, keys)."""
    names = pq.read_schema(path).names
    wanted = {*features, LABEL, *KEYS}
    return pd.read_parquet(path, columns=[c for c in names if c in wanted])


def stack_files(
    paths: Sequence[Path], features: list[str], vocab: dict[str, list[str]]
) -> tuple[np.ndarray, Groups]:
    """The float32 feature matrix (column-major) and groups of the frames at ``paths``, rows
    ordered by (cutoff, customer) as :func:`~recsys.ranking.ranker.sort_groups` orders them."""
    files = week_files(paths)
    if not files:
        raise ValueError(f"no candidate rows in {', '.join(map(str, paths)) or 'no files'}")
    out = np.empty((sum(f.rows for f in files), len(features)), np.float32, order="F")
    parts, start = [], 0
    for file in files:
        frame = read_rows(file.path, features)
        parts.append(place(out, start, frame, features, vocab))
        start += len(frame)
        del frame
    return out, Groups(*(np.concatenate(p) for p in zip(*parts, strict=True)))


def stack_frame(
    frame: pd.DataFrame, features: list[str], vocab: dict[str, list[str]]
) -> tuple[np.ndarray, Groups]:
    """:func:`stack_files` of one frame in memory."""
    out = np.empty((len(frame), len(features)), np.float32, order="F")
    labels, sizes, customers = place(out, 0, frame, features, vocab)
    return out, Groups(labels, sizes, customers)


def place(
    out: np.ndarray,
    start: int,
    frame: pd.DataFrame,
    features: list[str],
    vocab: dict[str, list[str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write ``frame``'s rows, ordered by (cutoff, customer), into ``out`` from row ``start``;
    their labels, group sizes and group customers."""
    key = frame[KEYS]
    cutoffs = key[CUTOFF].to_numpy().astype("int64")
    order = np.lexsort((key[schema.CUSTOMER_ID].to_numpy(), cutoffs))  # stable
    fill_matrix(out[start : start + len(frame)], frame, features, vocab, order)
    ordered = key.iloc[order]
    groups = group_ids(ordered)
    first = np.r_[True, np.diff(groups) != 0] if len(groups) else np.zeros(0, bool)
    labels = frame[LABEL].to_numpy()[order]
    customers = ordered[schema.CUSTOMER_ID].to_numpy()[first]
    return labels, np.bincount(groups), customers
