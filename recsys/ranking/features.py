"""The ranker's feature matrix: union features, interactions, and Feast customer/article features.

Training fetches the customer and article views point-in-time through Feast
(``get_historical_features`` with services ``customer_v1`` / ``article_v1``, the two halves of the
``ranker_v1`` contract) on the distinct (customer, cutoff) and (article, cutoff) rows, then joins
them to the candidate pairs: the same values as one call on every pair, at a fraction of the rows.
Batch scoring can read the same snapshot files directly (:func:`add_snapshot_features`); a test
checks both give identical frames.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys import schema
from recsys.features import spec
from recsys.ranking.vocab import codes, string_features
from recsys.schema import CUTOFF
from recsys.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

SERVICE = "ranker_v1"
HALVES = {
    "customer": ("customer_v1", schema.CUSTOMER_ID),
    "article": ("article_v1", schema.ARTICLE_ID),
}


def store_feature_names() -> dict[str, list[str]]:
    """Customer and article feature names of the ``ranker_v1`` contract, in spec order."""
    return {
        "customer": [f.name for f in spec.customer_features()],
        "article": [f.name for f in spec.article_features()],
    }


def add_store_features(
    settings: Settings, frame: pd.DataFrame, progress: bool = False
) -> pd.DataFrame:
    """``frame`` (customer_id, article_id, cutoff) plus Feast features, point in time."""
    from recsys.features.historical import historical_features

    out = frame
    for kind, (service, key) in HALVES.items():
        rows = frame[[key, CUTOFF]].drop_duplicates(ignore_index=True)
        entity = pd.DataFrame(
            {
                schema.CUSTOMER_ID: rows[key] if key == schema.CUSTOMER_ID else 0,
                schema.ARTICLE_ID: rows[key] if key == schema.ARTICLE_ID else 0,
                "event_timestamp": pd.to_datetime(rows[CUTOFF]).dt.tz_localize("UTC"),
                CUTOFF: rows[CUTOFF],
            }
        )
        got = historical_features(settings, entity, service=service, progress=progress)
        names = store_feature_names()[kind]
        got = compact(got[[key, CUTOFF, *names]].astype({key: frame[key].dtype}), names)
        out = attach(out, got, [key, CUTOFF])
    return out


class SnapshotFeatures:
    """The customer and article snapshots of one cutoff, read once, joined to many frames.

    The snapshots are read and each key index (its hash table) built once, on first use, and
    the columns likewise: a call costs the rows of its frame only, however large the snapshot.
    :meth:`__call__` adds every feature column to a frame; :meth:`blocks` gives a ranker's
    columns as float32 blocks that :func:`~recsys.ranking.ranker.matrix` places straight into
    its matrix (no frame between).
    """

    def __init__(self, settings: Settings, cutoff: dt.date) -> None:
        self.root, self.cutoff = settings.paths.features, cutoff
        self._tables: dict[str, pa.Table] = {}
        self._indexes: dict[str, pd.Index] = {}
        self._columns: dict[str, dict[str, np.ndarray]] = {}
        self._blocks: dict[str, list[StoreBlock]] = {}

    @property
    def tables(self) -> dict[str, pa.Table]:
        """Each entity's snapshot (its key, then the contract's features), read on first use."""
        if not self._tables:
            self._read()
        return self._tables

    @property
    def indexes(self) -> dict[str, pd.Index]:
        """Each entity's key index over its snapshot's rows, built on first use."""
        if not self._indexes:
            self._read()
        return self._indexes

    def _read(self) -> None:
        """Read both snapshots and index their keys (uniqueness checked)."""
        from recsys.features.snapshots import read_snapshot

        for kind, (_, key) in HALVES.items():
            names = store_feature_names()[kind]
            table = read_snapshot(self.root, kind, self.cutoff).select([key, *names])
            self._tables[key] = table
            self._indexes[key] = unique_index(table.column(key).to_numpy(), [key])

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` plus the snapshot features of its customers and articles."""
        for key, index in self.indexes.items():
            at = index.get_indexer(frame[key].to_numpy(np.int64))
            frame = attach_at(frame, self.columns(key), at)
        return frame

    def columns(self, key: str) -> dict[str, np.ndarray]:
        """Every feature column of ``key``'s table, numbers as float32 (built on first use)."""
        if key not in self._columns:
            self._columns[key] = feature_columns(self.tables[key].drop_columns([key]))
        return self._columns[key]

    def blocks(self, features: list[str], vocab: dict[str, list[str]]) -> list[StoreBlock]:
        """The snapshot's columns among ``features``, a block per entity (built once per ranker)."""
        tag = json.dumps([features, vocab], sort_keys=True)
        if tag not in self._blocks:
            wanted, blocks = set(features), []
            for key, index in self.indexes.items():
                table = self.tables[key]  # the key, then the features
                used = feature_columns(
                    table.select([n for n in table.column_names[1:] if n in wanted])
                )
                blocks.append(store_block(key, index, used, features, vocab))
            self._blocks[tag] = blocks
        return self._blocks[tag]


@dataclass(frozen=True)
class StoreBlock:
    """One entity's ranker columns: float32, a row per column and a column per entity.

    ``values`` ends with an all-NaN column: the value of every key the snapshot lacks.
    """

    key: str
    index: pd.Index
    positions: np.ndarray  # each row's column in the ranker's feature order
    values: np.ndarray  # (len(positions), len(index) + 1) float32

    def place(self, frame: pd.DataFrame, out: np.ndarray) -> None:
        """The values of each row's ``key`` written into that row of ``out``, at ``positions``."""
        if not len(self.positions):
            return
        at = self.index.get_indexer(frame[self.key].to_numpy(np.int64))  # -1 wraps to NaN
        lo, hi = int(self.positions[0]), int(self.positions[-1]) + 1
        if hi - lo == len(self.positions) and out.flags.f_contiguous:  # one gather, in place
            np.take(self.values, at, axis=1, out=out[:, lo:hi].T, mode="wrap")
        else:
            out[:, self.positions] = np.take(self.values, at, axis=1, mode="wrap").T


def store_block(
    key: str,
    index: pd.Index,
    columns: dict[str, np.ndarray],
    features: list[str],
    vocab: dict[str, list[str]],
) -> StoreBlock:
    """The block of ``columns`` (rows in ``index`` order) named in ``features``, strings as
    ``vocab`` codes: the values :func:`~recsys.ranking.ranker.matrix` takes from a frame."""
    positions = [j for j, name in enumerate(features) if name in columns]
    values = np.empty((len(positions), len(index) + 1), np.float32)
    for row, j in enumerate(positions):
        name = features[j]
        column = columns[name]
        values[row, :-1] = codes(column, vocab[name]) if name in vocab else column
    values[:, -1] = np.nan
    return StoreBlock(key, index, np.array(positions, np.intp), values)


def add_snapshot_features(settings: Settings, frame: pd.DataFrame, cutoff: dt.date) -> pd.DataFrame:
    """``frame`` plus the features of the snapshot of ``cutoff`` (for batch scoring)."""
    return SnapshotFeatures(settings, cutoff)(frame)


def attach(frame: pd.DataFrame, table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``frame`` plus ``table``'s other columns where ``keys`` match (many-to-one; else null).

    A positional take per column: unlike ``merge``, ``frame`` itself is never copied.
    """
    if table.duplicated(keys).any():
        raise ValueError(f"feature rows are not unique on {keys}")
    if len(keys) == 1:
        index = pd.Index(table[keys[0]].to_numpy(np.int64))
        pos = index.get_indexer(frame[keys[0]].to_numpy(np.int64))
    else:
        pos = pd.MultiIndex.from_frame(table[keys]).get_indexer(
            pd.MultiIndex.from_frame(frame[keys])
        )
    return attach_at(frame, {c: table[c].to_numpy() for c in table if c not in keys}, pos)


def keyed(table: pd.DataFrame, key: str) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """``table``'s index on ``key`` (hash table built, uniqueness checked) and other columns."""
    index = unique_index(table[key].to_numpy(np.int64), [key])
    return index, {c: table[c].to_numpy() for c in table if c != key}


def unique_index(keys: np.ndarray, names: list[str]) -> pd.Index:
    """An int64 index of ``keys`` (its hash table built), refused unless they are unique."""
    index = pd.Index(np.asarray(keys, np.int64))
    if not index.is_unique:  # builds the index's hash table too
        raise ValueError(f"feature rows are not unique on {names}")
    return index


def feature_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """``table``'s columns as arrays, as :func:`compact` leaves them (numbers as float32)."""
    frame = compact(table.to_pandas(), table.column_names)
    return {c: frame[c].to_numpy() for c in frame}


def attach_at(frame: pd.DataFrame, columns: dict[str, np.ndarray], pos: np.ndarray) -> pd.DataFrame:
    """``frame`` plus ``columns`` taken at ``pos`` per row (-1: null)."""
    missing = pos < 0
    added = pd.DataFrame({c: _take(v, pos, missing) for c, v in columns.items()}, index=frame.index)
    return pd.concat([frame, added], axis=1, copy=False)


def _take(values: np.ndarray, pos: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``values[pos]`` with nulls (NaN or None) where ``missing``."""
    out = values[pos]
    if missing.any():
        if out.dtype.kind == "f":
            out[missing] = np.nan
        else:
            out = out.astype(object)
            out[missing] = None
    return out


def compact(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Numeric feature columns as float32 (nulls -> NaN): half the memory of Feast's float64."""
    strings = set(string_features())
    numeric = {n: np.float32 for n in names if n not in strings}
    return frame.astype(numeric)
