"""Training retrieval: point-in-time correct features for (customer, article, timestamp) rows.

Each row gets the features of the latest snapshot at or before its ``event_timestamp`` (within
the views' 7-day TTL), through Feast's ``get_historical_features`` on the file offline store.
The file offline store merges every entity row with every snapshot row of its key before
filtering, so its cost grows with the number of weekly snapshots; rows are therefore grouped by
the one snapshot they can match and each group is joined by Feast against that file only (same
result, constant cost per row), in chunks of at most ``chunk_rows`` rows. Feast 0.67's
file offline store drops entity rows whose only snapshot matches lie outside the TTL; they are put
back here with null features, so the output has exactly the input's rows, in its order.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import pandas as pd
from feast import FeatureStore
from tqdm.auto import tqdm

from recsys.features.store import KINDS, Online, open_store
from recsys.settings import Settings

ROW = "__row"


def prepare_entity_df(entity_df: pd.DataFrame) -> pd.DataFrame:
    """Typed copy: int64 ids, UTC event_timestamp, plus a row number to restore the order."""
    missing = {"customer_id", "article_id", "event_timestamp"} - set(entity_df.columns)
    if missing:
        raise ValueError(f"entity_df lacks columns {sorted(missing)}")
    df = entity_df.copy()
    df["customer_id"] = df["customer_id"].astype("int64")
    df["article_id"] = df["article_id"].astype("int64")
    ts = pd.to_datetime(df["event_timestamp"])
    df["event_timestamp"] = (
        ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    )
    df[ROW] = np.arange(len(df), dtype=np.int64)
    return df


def snapshot_of_rows(settings: Settings, kind: str, ts: pd.Series) -> pd.Series:
    """Per row, the latest snapshot cutoff (midnight UTC) at or before its timestamp (or NaT)."""
    folder = settings.paths.features / kind
    dates = sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []
    cutoffs = pd.DatetimeIndex(pd.to_datetime(dates), tz="UTC")
    pos = cutoffs.searchsorted(ts.to_numpy(), side="right") - 1
    picked = cutoffs[np.maximum(pos, 0)] if len(cutoffs) else pd.DatetimeIndex([pd.NaT] * len(ts))
    return pd.Series(picked, index=ts.index).where(pos >= 0)


def _narrowed_views(store: FeatureStore, service: str, cutoffs: dict[str, pd.Timestamp]) -> list:
    """The service's views with each source narrowed to the one snapshot file rows can match."""
    from feast import FileSource
    from feast.data_format import ParquetFormat

    views = []
    for projection in store.get_feature_service(service).feature_view_projections:
        view = copy.copy(store.get_feature_view(projection.name))
        kind = "customer" if "customer" in view.entities else "article"
        path = view.batch_source.path.rstrip("/") + f"/{cutoffs[kind]:%Y-%m-%d}.parquet"
        view.batch_source = FileSource(
            name=f"{kind}_snapshot",
            path=path,
            timestamp_field="event_timestamp",
            file_format=ParquetFormat(),
        )
        view.features = [
            f for f in view.features if f.name in {p.name for p in projection.features}
        ]
        views.append(view)
    return views


def _retrieve(
    store: FeatureStore, service: str, chunk: pd.DataFrame, cutoffs: dict
) -> pd.DataFrame:
    """Feast's point-in-time join (its offline store) for rows whose snapshots are ``cutoffs``."""
    views = _narrowed_views(store, service, cutoffs)
    refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
    with warnings.catch_warnings():  # int64 entity keys vs the snapshot's int32 article_id
        warnings.filterwarnings("ignore", "Merging dataframes with merge column data type")
        job = store._get_provider().get_historical_features(
            config=store.config,
            feature_views=views,
            feature_refs=refs,
            entity_df=chunk,
            registry=store.registry,
            project=store.project,
            full_feature_names=False,
        )
        return job.to_df()


def historical_features(
    settings: Settings,
    entity_df: pd.DataFrame,
    service: str = "ranker_v1",
    online: Online | None = None,
    chunk_rows: int = 2_000_000,
    progress: bool = False,
) -> pd.DataFrame:
    """Point-in-time features of ``service`` for each entity row, in the input's row order.

    ``entity_df`` has ``customer_id``, ``article_id``, ``event_timestamp`` (naive = UTC) and
    any extra columns (kept). Feature columns are named as in the spec. Rows are grouped by the
    snapshot each can match (the latest cutoff at or before it; older ones always lose to it),
    so Feast's file offline store joins each group against one file instead of all of them.
    """
    store = open_store(settings, online)
    df = prepare_entity_df(entity_df)
    keys = pd.DataFrame({k: snapshot_of_rows(settings, k, df["event_timestamp"]) for k in KINDS})
    usable = keys.notna().all(axis=1)
    groups = list(keys[usable].groupby(["customer", "article"]).groups.items())
    parts = []
    for (c_cut, a_cut), index in tqdm(groups, disable=not progress, desc="historical"):
        rows = df.loc[index]
        for start in range(0, len(rows), chunk_rows):
            chunk = rows.iloc[start : start + chunk_rows]
            cutoffs = {"customer": c_cut, "article": a_cut}
            parts.append(_retrieve(store, service, chunk, cutoffs))
    if not parts:  # nothing can match: Feast's own call gives the (all-null) columns
        parts = [
            store.get_historical_features(df.iloc[:1], store.get_feature_service(service)).to_df()
        ]
    return restore_rows(df, pd.concat(parts, ignore_index=True))


def restore_rows(df: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """Input order, and rows Feast's file store drops (no snapshot within the TTL) back as nulls."""
    features = [c for c in out.columns if c not in df.columns]
    out = df.merge(out[[ROW, *features]], on=ROW, how="left", validate="one_to_one")
    return out.drop(columns=ROW)


def timed_historical(settings: Settings, entity_df: pd.DataFrame, **kwargs: object) -> float:
    """Seconds one :func:`historical_features` call takes (for benchmarks)."""
    start = time.perf_counter()
    historical_features(settings, entity_df, **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - start
