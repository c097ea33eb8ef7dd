"""Flow ``train-ranker``: LightGBM LambdaRank on the training weeks, early-stopped on validation.

With ``binary``, the binary-classifier variant is trained on the same rows beside it (compared,
never registered).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow, task

from flows.cache import cached, fingerprint, fresh, mark_done, stage_dir
from flows.cluster import cluster_chunks
from flows.own_process import own_process
from flows.retrieval import CandidateWeeks
from recsys.settings import Settings

BINARY = "binary"  # sub-folder of the ranker's folder holding the binary variant


@task(name="fit ranker")
@own_process("fit ranker")
def fit_ranker_task(
    settings: Settings, key: str, out: str, weeks: CandidateWeeks, valid: dt.date, binary: bool
) -> str:
    """Train on the weeks under ``weeks.train``, stop on the validation week -> ``out``."""
    from recsys.parallel import cluster_or
    from recsys.ranking.train import fit_ranker

    path = fresh(Path(out))
    train, week = [Path(p) / "frame.parquet" for p in weeks.train], Path(weeks.valid)
    with cluster_chunks(settings) as chunks:  # a large training set trains on the cluster
        fit_ranker(settings, train, week, where=cluster_or(chunks, None)).save(path)
    if binary:
        fit_ranker(settings, train, week, "binary").save(path / BINARY)
    rows = sum(pq.read_metadata(p).num_rows for p in train)
    (path / "train_rows.txt").write_text(str(rows))
    return str(mark_done(path))


@flow(name="train-ranker", log_prints=True, validate_parameters=False)
def train_ranker(
    settings: Settings,
    weeks: CandidateWeeks,
    valid: dt.date,
    binary: bool = False,
    use_cache: bool = True,
) -> str:
    """The ranker's folder (cached on the candidate weeks it learns from)."""
    key = fingerprint(settings, "ranker", weeks.train, weeks.valid, settings.threads, binary)
    out = stage_dir(settings, "ranker", key)
    run = cached(fit_ranker_task, settings, out, use_cache)
    return run(settings, key, str(out), weeks, valid, binary)
