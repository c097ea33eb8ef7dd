"""Flow ``train-ranker``: LightGBM LambdaRank on the training weeks, early-stopped on validation."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from flows.cache import cached, fingerprint, mark_done, stage_dir
from flows.retrieval import as_date
from recsys.settings import get_settings


@task(name="fit ranker")
def fit_ranker_task(key: str, out: str, train: list[str], valid: str, valid_cutoff: str) -> str:
    """Train on the weeks under ``train``, stop on the week under ``valid`` -> ``out``."""
    import pandas as pd

    from recsys.data.lake import Lake
    from recsys.pipeline import train_step
    from recsys.ranking.dataset import load_week

    settings = get_settings()
    frames = pd.concat([pd.read_parquet(Path(p) / "frame.parquet") for p in train])
    week = load_week(Lake(settings.paths.lake), as_date(valid_cutoff), Path(valid))
    ranker = train_step(settings, frames.reset_index(drop=True), week)
    ranker.save(Path(out))
    (Path(out) / "train_rows.txt").write_text(str(len(frames)))
    return str(mark_done(Path(out)))


@flow(name="train-ranker", log_prints=True)
def train_ranker(weeks: dict, valid_cutoff: str) -> str:
    """The ranker's folder (cached on the candidate weeks it learns from)."""
    settings = get_settings()
    key = fingerprint(settings, "ranker", weeks["train"], weeks["valid"], settings.threads)
    out = stage_dir(settings, "ranker", key)
    return cached(fit_ranker_task, settings, out)(
        key, str(out), weeks["train"], weeks["valid"], str(valid_cutoff)
    )
