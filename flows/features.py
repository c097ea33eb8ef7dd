"""Flow ``build-features``: weekly snapshots (offline store), Feast registry, materialization."""

from __future__ import annotations

import datetime as dt

from prefect import flow, task

from recsys.settings import get_settings


@task(name="build snapshots")
def build_snapshots_task(cutoffs: list[dt.date]) -> dict:
    """Customer and article snapshots of ``cutoffs`` (files up to date are kept, not rebuilt)."""
    from recsys.data.lake import Lake
    from recsys.features.snapshots import build_snapshots

    settings = get_settings()
    infos = build_snapshots(Lake(settings.paths.lake), cutoffs, settings.paths.features, False)
    built = [i for i in infos if i.seconds > 0]
    return {
        "cutoffs": [str(c) for c in cutoffs],
        "built": len(built),
        "kept": len(infos) - len(built),
    }


@task(name="feast apply", retries=2, retry_delay_seconds=5)
def apply_task() -> int:
    """Register entities, views and services; the number of feature views."""
    from recsys.features import store

    return len(store.apply(get_settings()).list_feature_views())


@task(name="materialize", retries=2, retry_delay_seconds=5)
def materialize_task(cutoff: dt.date) -> dict:
    """The snapshots of ``cutoff`` into the online store (validated before any write)."""
    from recsys.features import store

    return store.materialize(get_settings(), cutoff, progress=False)


@flow(name="build-features", log_prints=True)
def build_features(cutoffs: list[dt.date]) -> dict:
    """Snapshots for every cutoff the week needs, then ``feast apply``."""
    from recsys.features import spec

    built = build_snapshots_task(cutoffs)
    views = apply_task()
    features = len(spec.customer_features()) + len(spec.article_features())
    return {**built, "feature_views": views, "features": features}


@flow(name="publish-features", log_prints=True)
def publish_features(cutoff: dt.date) -> dict:
    """Materialize the newest snapshots: the week's features go live for serving."""
    return materialize_task(cutoff)
