"""Flow ``train-retrievers``: each week's candidate union fitted strictly before its cutoff.

Training weeks become sampled, featurised rows; the validation week keeps every candidate plus
its fitted union; the serving union is fitted on everything before the predicted week. Each is
a cached task keyed on the lake version, cutoff, sources and settings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, task

from flows.cache import cached, fingerprint, mark_done, stage_dir
from recsys.retrieval.sources import DEFAULT_SOURCES, SourceSpec, parse_sources, with_home
from recsys.settings import Settings, get_settings


def as_date(value: dt.date | str) -> dt.date:
    """A cutoff passed through Prefect parameters (a date or its ISO text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def source_specs(settings: Settings, sources: list[dict] | None) -> list[SourceSpec]:
    """The union's sources (default: the tuned ``DEFAULT_SOURCES``), caching under the home."""
    return with_home(parse_sources(sources) if sources else list(DEFAULT_SOURCES), settings)


@task(name="training week")
def training_week_task(key: str, out: str, cutoff: dt.date, index: int, sources: list) -> str:
    """Sampled training rows of the week from ``cutoff`` -> ``out/frame.parquet``."""
    from recsys.data.lake import Lake
    from recsys.pipeline import train_week

    settings, path = get_settings(), Path(out)
    specs = source_specs(settings, sources)
    frame = train_week(settings, Lake(settings.paths.lake), cutoff, index, specs, False)
    path.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path / "frame.parquet", index=False)
    return str(mark_done(path))


@task(name="validation week")
def validation_week_task(key: str, out: str, cutoff: dt.date, sources: list) -> str:
    """The validation week's candidates, purchases and fitted union -> ``out``."""
    from recsys.data.lake import Lake
    from recsys.pipeline import valid_week
    from recsys.ranking.dataset import save_week

    settings = get_settings()
    specs = source_specs(settings, sources)
    week = valid_week(settings, Lake(settings.paths.lake), cutoff, specs, False)
    return str(mark_done(save_week(week, Path(out))))


@task(name="serving union")
def serving_union_task(key: str, out: str, cutoff: dt.date, sources: list) -> str:
    """The union fitted on everything before ``cutoff`` plus the best sellers -> ``out``."""
    from recsys.data.lake import Lake
    from recsys.pipeline import fit_serving_union

    settings = get_settings()
    specs = source_specs(settings, sources)
    fit_serving_union(Lake(settings.paths.lake), cutoff, specs, Path(out))
    return str(mark_done(Path(out)))


@flow(name="train-retrievers", log_prints=True)
def train_retrievers(plan: dict, lake_version: str, sources: list[dict] | None = None) -> dict:
    """Candidate weeks for training and validation and the serving union (cached per week)."""
    settings = get_settings()
    sources = [s.as_dict() for s in source_specs(settings, sources)]
    paths: dict = {"train": []}
    for i, cutoff in enumerate(map(as_date, plan["train"])):
        key = fingerprint(settings, "train", lake_version, cutoff, i, sources)
        out = stage_dir(settings, "train_week", key)
        task_ = cached(training_week_task, settings, out)
        paths["train"].append(task_(key, str(out), cutoff, i, sources))
    for role, fn in (("valid", validation_week_task), ("serving", serving_union_task)):
        cutoff = as_date(plan["valid"] if role == "valid" else plan["predict"])
        key = fingerprint(settings, role, lake_version, cutoff, sources)
        out = stage_dir(settings, f"{role}_week", key)
        paths[role] = cached(fn, settings, out)(key, str(out), cutoff, sources)
    paths["sources"] = sources
    return paths
