"""Flow ``publish``: what serving loads, written in an order that never shows a half state.

1. The predicted week's snapshots go into the online store (skipped when the stamp already
   names them). 2. The model that will be champion gets its candidates (the batch over every
   customer, cached; the stores of models other than it and the champion are removed first)
   and 3. every customer's context-free answer ranked ahead over those features (the batch's
   own scores when it ranked over the snapshots now online). 4. Only then does the
   ``champion`` alias move to a promoted version: a running server (``hm serve``) polls the
   alias and the stamp, builds the new state beside the live one and swaps it in without a
   restart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, task

from flows.cache import cached, fingerprint, fresh, mark_done, stage_dir
from flows.own_process import own_process
from flows.summary import GateFacts, PublishedFacts
from recsys.settings import Settings

RECS = "recommendations.parquet"


@task(name="materialize", retries=2, retry_delay_seconds=5)
@own_process("materialize")
def materialize_task(settings: Settings, cutoff: dt.date, progress: bool) -> dict:
    """The snapshots of ``cutoff`` into the online store, unless they are online already."""
    from recsys.features import store
    from recsys.features.materialize import materialize
    from recsys.features.snapshots import snapshot_version

    stamp = snapshot_version(settings.paths.features, cutoff)
    if store.read_stamp(store.open_store(settings), settings) == stamp:
        return {"stamp": stamp, "materialized": False, "customer_rows": 0, "article_rows": 0}
    stats = materialize(settings, cutoff, progress=progress)
    return {"stamp": stamp, "materialized": True, **stats}


@task(name="rank every customer")
@own_process("rank every customer")
def batch_task(settings: Settings, key: str, out: str, package_dir: str, progress: bool) -> str:
    """The package's top 12 for every customer -> ``out``; its candidates for serving."""
    from flows.cluster import chunk_runner
    from recsys.data.lake import Lake
    from recsys.ranking.batch import recommend_everyone
    from recsys.ranking.package import RecommenderPackage

    path = fresh(Path(out))
    package = RecommenderPackage.load(Path(package_dir))
    lake = Lake(settings.paths.lake)
    with chunk_runner(settings) as where:
        recs = recommend_everyone(settings, lake, package, progress, parallel=where)
    recs.to_parquet(path / RECS, index=False)
    (path / "cutoff.txt").write_text(package.cutoff.isoformat())
    return str(mark_done(path))


def batch(settings: Settings, version: str, progress: bool) -> tuple[Path, int]:
    """The batch of model ``version``: its folder of recommendations, and how many customers
    its candidate store (what serving reads) holds. Cached on the version's MLflow run, so a
    new model is always ranked and a published one never twice."""
    from recsys import registry
    from recsys.ranking.candidate_store import CandidateStore, package_store
    from recsys.ranking.package import RecommenderPackage

    package_dir = registry.download_package(settings, version=version)
    store = package_store(settings, RecommenderPackage.key_of(package_dir))
    run_id = registry.client(settings).get_model_version(registry.MODEL_NAME, version).run_id
    shaping = (settings.active_weeks, settings.batch_customers)
    key = fingerprint(settings, "batch", run_id, version, shaping)
    out = stage_dir(settings, "batch", key)
    written = (store / "meta.json").exists()
    if not written:
        prune_candidates(settings, keep=store.name)
    task_ = cached(batch_task, settings, out, written)
    done = Path(task_(settings, key, str(out), str(package_dir), progress))
    return done, len(CandidateStore.open(store).customers)


def prune_candidates(settings: Settings, keep: str) -> list[str]:
    """Before a new candidate store is written: remove those of every model but the champion
    and the store ``keep`` (at full H&M scale a store takes ~16 GB, one more per week)."""
    from recsys import registry
    from recsys.ranking.candidate_store import prune_stores
    from recsys.ranking.package import RecommenderPackage

    stores = {keep}
    champion = registry.version_by_alias(settings, registry.CHAMPION)
    if champion is not None:
        path = registry.download_package(settings, version=str(champion.version))
        stores.add(RecommenderPackage.key_of(path))
    return prune_stores(settings.paths.candidates, stores)


@task(name="rank answers ahead")
@own_process("rank answers ahead")
def answers_task(settings: Settings, version: str, progress: bool) -> int:
    """Every customer's context-free list for ``version`` over the online features (ranked
    chunk by chunk on ``HM_DASK``'s cluster when the batch's scores are those)."""
    from flows.cluster import chunk_runner
    from serving.ahead import rank_ahead

    with chunk_runner(settings) as where:
        return len(rank_ahead(settings, version, progress, where).customers)


@task(name="move champion")
def promote_task(settings: Settings, version: str) -> None:
    """Point ``champion`` at ``version``: the swap every server picks up."""
    from recsys import registry

    registry.set_alias(settings, registry.CHAMPION, version)


def champion_to_be(settings: Settings, gate: GateFacts) -> str | None:
    """The version that is champion once this run is published."""
    from recsys import registry

    if gate.promoted:
        return gate.version
    current = registry.version_by_alias(settings, registry.CHAMPION)
    return None if current is None else str(current.version)


def make_servable(settings: Settings, version: str, progress: bool) -> tuple[int, int]:
    """Model ``version``'s candidates and, if wanted, its answers ranked ahead over the online
    features: what a server needs before ``version`` becomes champion. (customers with
    candidates, customers answered ahead)."""
    _, candidates = batch(settings, version, progress)
    answers = answers_task(settings, version, progress) if settings.serve_precompute else 0
    return candidates, answers


@flow(name="publish", log_prints=True, validate_parameters=False)
def publish(
    settings: Settings, cutoff: dt.date, gate: GateFacts, progress: bool = False
) -> PublishedFacts:
    """Features, candidates and answers of the champion-to-be, then the alias: the swap."""
    online = materialize_task(settings, cutoff, progress)
    version = champion_to_be(settings, gate)
    candidates = answers = 0
    if version is not None:
        candidates, answers = make_servable(settings, version, progress)
        if gate.promoted:
            promote_task(settings, version)
    return PublishedFacts(
        cutoff=str(cutoff),
        features_version=online["stamp"],
        materialized=online["materialized"],
        customer_rows=int(online["customer_rows"]),
        article_rows=int(online["article_rows"]),
        champion=version,
        candidates=candidates,
        answers=answers,
    )


@flow(name="promote", log_prints=True, validate_parameters=False)
def promote(settings: Settings, version: str, progress: bool = False) -> tuple[int, int]:
    """Make ``version`` servable, then champion (``hm promote``), under the home's writer lock."""
    from recsys.home_lock import writer

    with writer(settings):
        done = make_servable(settings, version, progress)
        promote_task(settings, version)
    return done
