"""Flow ``build-features``: weekly snapshots (the offline store) and the Feast registry."""

from __future__ import annotations

import datetime as dt

from prefect import flow, task

from flows.own_process import own_process
from flows.summary import FeatureFacts
from recsys.settings import Settings

PARTS_PER_SLOT = 2  # customer snapshot parts per worker thread (a part re-reads the lake)


@task(name="build snapshots")
@own_process("build snapshots")
def build_snapshots_task(settings: Settings, cutoffs: list[dt.date], progress: bool) -> dict:
    """Customer and article snapshots of ``cutoffs`` (files up to date are kept, not rebuilt);
    with ``HM_DASK``, each customer snapshot in customer id ranges, a task each on the cluster
    (:data:`PARTS_PER_SLOT` per worker thread)."""
    from flows.cluster import chunk_runner
    from recsys.data.fingerprint import HashCache
    from recsys.data.lake import Lake
    from recsys.features.customer_parts import CustomerParts
    from recsys.features.snapshots import build_snapshots

    lake, hashes = Lake(settings.paths.lake), HashCache(settings.paths.file_hashes)
    with chunk_runner(settings) as where:
        parts = CustomerParts(where, PARTS_PER_SLOT * where.slots) if where.client else None
        infos = build_snapshots(
            lake, cutoffs, settings.paths.features, progress, hashes=hashes, parts=parts
        )
    hashes.save()
    built = [i for i in infos if not i.skipped]
    return {"built": len(built), "kept": len(infos) - len(built)}


@task(name="feast apply", retries=2, retry_delay_seconds=5)
def apply_task(settings: Settings) -> int:
    """Register entities, views and services; the number of feature views."""
    from recsys.features import store

    return len(store.apply(settings).list_feature_views())


@flow(name="build-features", log_prints=True, validate_parameters=False)
def build_features(
    settings: Settings, cutoffs: list[dt.date], progress: bool = False
) -> FeatureFacts:
    """Snapshots for every cutoff the week needs, then ``feast apply``."""
    from recsys.features import spec

    built = build_snapshots_task(settings, cutoffs, progress)
    views = apply_task(settings)
    return FeatureFacts(
        cutoffs=[str(c) for c in cutoffs],
        built=built["built"],
        kept=built["kept"],
        features=len(spec.customer_features()) + len(spec.article_features()),
        views=views,
    )
