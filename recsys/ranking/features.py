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
from recsys.settings import Settings

CUTOFF = "cutoff"  # the week a candidate row belongs to (its point-in-time timestamp)
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


def string_features() -> list[str]:
    """Store features holding strings (encoded as categories for LightGBM)."""
    specs = [*spec.customer_features(), *spec.article_features()]
    return [f.name for f in specs if str(f.dtype) == "string"]


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
        out = out.merge(got, on=[key, CUTOFF], how="left", validate="many_to_one")
    return out


def add_snapshot_features(settings: Settings, frame: pd.DataFrame, cutoff: dt.date) -> pd.DataFrame:
    """``frame`` plus the features of the snapshot of ``cutoff`` (for batch scoring)."""
    from recsys.features.snapshots import read_snapshot

    out = frame
    for kind, (_, key) in HALVES.items():
        names = store_feature_names()[kind]
        table = read_snapshot(settings.paths.features, kind, cutoff).select([key, *names])
        snap = compact(table.to_pandas().astype({key: frame[key].dtype}), names)
        out = out.merge(snap, on=key, how="left", validate="many_to_one")
    return out


def compact(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Numeric feature columns as float32 (nulls -> NaN): half the memory of Feast's float64."""
    strings = set(string_features())
    numeric = {n: np.float32 for n in names if n not in strings}
    return frame.astype(numeric)


def encode_strings(frame: pd.DataFrame, vocab: dict[str, list[str]]) -> pd.DataFrame:
    """String features as float codes of ``vocab`` (unknown -> NaN), in place of the strings."""
    for col, values in vocab.items():
        if col in frame:
            codes = pd.Categorical(frame[col], categories=values).codes.astype(np.float32)
            frame[col] = np.where(codes < 0, np.nan, codes).astype(np.float32)
    return frame


def learn_vocab(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Sorted distinct values of each string feature in ``frame``."""
    return {
        col: sorted(str(v) for v in frame[col].dropna().unique())
        for col in string_features()
        if col in frame
    }
