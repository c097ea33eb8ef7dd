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

import numpy as np
import pandas as pd

from recsys import schema
from recsys.features import spec
from recsys.ranking.vocab import string_features
from recsys.schema import CUTOFF
from recsys.settings import Settings

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

    Each table's key index (its hash table) and column arrays are built once, here: a call
    costs the rows of its frame only, however large the snapshot.
    """

    def __init__(self, settings: Settings, cutoff: dt.date) -> None:
        from recsys.features.snapshots import read_snapshot

        self.tables = {}
        self.indexes: dict[str, tuple[pd.Index, dict[str, np.ndarray]]] = {}
        for kind, (_, key) in HALVES.items():
            names = store_feature_names()[kind]
            table = read_snapshot(settings.paths.features, kind, cutoff).select([key, *names])
            self.tables[key] = compact(table.to_pandas(), names)
            self.indexes[key] = keyed(self.tables[key], key)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` plus the snapshot features of its customers and articles."""
        for key, (index, columns) in self.indexes.items():
            frame = attach_at(frame, columns, index.get_indexer(frame[key].to_numpy(np.int64)))
        return frame


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
    index = pd.Index(table[key].to_numpy(np.int64))
    if not index.is_unique:  # builds the index's hash table too
        raise ValueError(f"feature rows are not unique on {[key]}")
    return index, {c: table[c].to_numpy() for c in table if c != key}


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
