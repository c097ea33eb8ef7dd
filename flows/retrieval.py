"""Flow ``train-retrievers``: each week's candidate union fitted strictly before its cutoff.

Training weeks become sampled, featurised rows; the validation week keeps every candidate plus
its fitted union; the serving union is fitted on everything before the predicted week. Each is
a cached task keyed on the lake version, cutoff, sources and settings. The fitted unions are also
kept under ``runs/union/`` keyed on what they read (:mod:`recsys.retrieval.fit_cache`): next
week's run loads the unions whose history has not changed instead of refitting. After the stage
only the :data:`UNIONS_KEPT` most recently used stay (2 GB each at full H&M scale): next week
needs two of them (this run's validation and serving unions); older training weeks are cached
as rows, their unions only refitted if those rows must be rebuilt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task

from flows.cache import cached, fingerprint, fresh, mark_done, stage_dir
from flows.cluster import cluster_chunks, run_together
from flows.own_process import own_process
from recsys.ranking.weeks import WeekPlan
from recsys.retrieval.sources import DEFAULT_SOURCES, SourceSpec, parse_sources, with_home
from recsys.settings import Settings

UNIONS_KEPT = 3  # fitted unions left in the store after the stage (the most recently used)


@dataclass(frozen=True)
class CandidateWeeks:
    """Where the stage left its outputs: training weeks, validation week, serving union."""

    train: list[str]
    valid: str
    serving: str
    sources: list[dict]


def union_store(settings: Settings) -> Path:
    """Where fitted unions are kept and reused. A run without cache uses it too: a union is
    keyed on exactly what its fit read, so a reused one is the one a refit would give, and
    the next cached run finds this run's fits."""
    return settings.paths.runs / "union"


def source_specs(settings: Settings, sources: list[dict] | None) -> list[SourceSpec]:
    """The union's sources (default: the tuned ``DEFAULT_SOURCES``), caching under the home."""
    return with_home(parse_sources(sources) if sources else list(DEFAULT_SOURCES), settings)


@task(name="training week")
@own_process("training week")
def training_week_task(
    settings: Settings,
    key: str,
    out: str,
    cutoff: dt.date,
    sources: list[dict],
    fit_store: Path | None = None,
) -> str:
    """Sampled training rows of the week from ``cutoff`` -> ``out/frame.parquet``."""
    from recsys.data.lake import Lake
    from recsys.ranking.weeks import train_week

    path = fresh(Path(out))
    specs = source_specs(settings, sources)
    lake = Lake(settings.paths.lake)
    with cluster_chunks(settings) as chunks:
        frame = train_week(settings, lake, cutoff, specs, fit_store=fit_store, chunks=chunks)
    frame.to_parquet(path / "frame.parquet", index=False)
    return str(mark_done(path))


@task(name="validation week")
@own_process("validation week")
def validation_week_task(
    settings: Settings,
    key: str,
    out: str,
    cutoff: dt.date,
    sources: list[dict],
    fit_store: Path | None = None,
) -> str:
    """The validation week's candidates, purchases and fitted union -> ``out``."""
    from recsys.data.lake import Lake
    from recsys.ranking.dataset import save_week
    from recsys.ranking.weeks import valid_week

    path = fresh(Path(out))
    specs, lake = source_specs(settings, sources), Lake(settings.paths.lake)
    with cluster_chunks(settings) as chunks:
        week = valid_week(settings, lake, cutoff, specs, fit_store=fit_store, chunks=chunks)
    return str(mark_done(save_week(week, path)))


@task(name="serving union")
@own_process("serving union")
def serving_union_task(
    settings: Settings,
    key: str,
    out: str,
    cutoff: dt.date,
    sources: list[dict],
    fit_store: Path | None = None,
) -> str:
    """The union fitted on everything before ``cutoff`` plus the best sellers -> ``out``."""
    from recsys.data.lake import Lake
    from recsys.parallel import cluster_or
    from recsys.ranking.assembly import fit_serving_union

    path = fresh(Path(out))
    specs, lake = source_specs(settings, sources), Lake(settings.paths.lake)
    with cluster_chunks(settings) as chunks:
        fitters = cluster_or(chunks, settings.threads)  # a task per member on a cluster
        fit_serving_union(lake, cutoff, specs, path, fit_store=fit_store, workers=fitters)
    return str(mark_done(path))


def week_end(cutoff: dt.date) -> dt.date:
    """The last day of the week that starts at ``cutoff`` (the week its labels come from)."""
    return cutoff + dt.timedelta(days=6)


@flow(name="train-retrievers", log_prints=True, validate_parameters=False)
def train_retrievers(
    settings: Settings,
    plan: WeekPlan,
    lake_version: str,
    sources: list[dict] | None = None,
    use_cache: bool = True,
) -> CandidateWeeks:
    """Candidate weeks for training and validation and the serving union (cached per week).

    A training or validation week is keyed on the lake's content up to the end of the week it
    labels: when next week arrives, the weeks both runs use are reused, not rebuilt. With
    ``HM_DASK`` the weeks are built side by side on the cluster's workers (run on a
    ``DaskTaskRunner``: :func:`flows.cluster.on_cluster`).
    """
    from recsys.data.digest import lake_digest
    from recsys.data.fingerprint import HashCache
    from recsys.data.lake import Lake
    from recsys.retrieval.fit_cache import prune

    lake, hashes = Lake(settings.paths.lake), HashCache(settings.paths.file_hashes)
    seen = {c: lake_digest(lake, week_end(c), hashes) for c in (*plan.train, plan.valid)}
    hashes.save()
    sources = [s.as_dict() for s in source_specs(settings, sources)]
    store = union_store(settings)
    weeks = [("train", training_week_task, c, seen[c]) for c in plan.train]
    weeks += [
        ("valid", validation_week_task, plan.valid, seen[plan.valid]),
        ("serving", serving_union_task, plan.predict, lake_version),
    ]
    calls = []
    for role, fn, cutoff, read in weeks:
        key = fingerprint(settings, role, read, cutoff, sources)
        out = stage_dir(settings, f"{role}_week", key)
        run = cached(fn, settings, out, use_cache)
        calls.append((run, (settings, key, str(out), cutoff, sources, store)))
    *train, valid, serving = run_together(settings, calls)
    if store.is_dir():
        prune(store, UNIONS_KEPT)
    return CandidateWeeks(train, valid, serving, sources)
