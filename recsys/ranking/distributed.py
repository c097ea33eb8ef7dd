"""The ranker trained on a Dask cluster (``lightgbm.dask``), for training sets too large for one
worker; stopped on the validation week's MAP@12 like the single-process fit.

Each training week's matrix is built where the stage runs (as :func:`~recsys.ranking.rows.
stack_files` builds it), scattered to a worker, and becomes one partition of a Dask array whose
ranking groups never cross partitions. LightGBM's Dask interface trains ``n_estimators`` trees
across the workers (it does not stop early); the best iteration is then chosen here exactly as
:func:`lightgbm.early_stopping` would: the validation week's MAP@12 after each tree, stopping
``early_stopping_rounds`` trees after the best.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.ranker import Ranker, RankerConfig
from recsys.ranking.rows import Stacked, stack_files, week_files
from recsys.ranking.stopping import GroupedMap, bought_counts

if TYPE_CHECKING:
    from distributed import Client


def training_bytes(paths: Sequence[Path], features: list[str]) -> int:
    """The size of the float32 training matrix the frames at ``paths`` make."""
    return sum(f.rows for f in week_files(paths)) * len(features) * 4


def fit_on_cluster(
    client: Client,
    train: Sequence[Path],
    valid: Stacked,
    valid_truth: pd.DataFrame,
    features: list[str],
    vocab: dict[str, list[str]],
    config: RankerConfig,
) -> Ranker:
    """LambdaRank on the weeks at ``train`` across ``client``'s workers, a partition per
    week; the best iteration chosen on the ``valid`` rows' MAP@12."""
    from lightgbm.dask import DaskLGBMRanker

    params = {k: v for k, v in config.lgb_params().items() if k != "num_threads"}
    with client.as_current(), warnings.catch_warnings():  # the stage's client: not the default
        # each worker trains on its own threads: the estimator's n_jobs is dropped, as meant
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
        x, y, group = _partitions(client, train, features, vocab)
        model = DaskLGBMRanker(client=client, n_estimators=config.n_estimators, **params)
        model.fit(x, y, group=group, feature_name=features)
    booster = model.to_local().booster_
    best, curve = best_iteration(booster, valid, valid_truth, config.early_stopping_rounds)
    return Ranker(booster, features, vocab, config, best, curve)


def _partitions(client: Client, paths: Sequence[Path], features: list[str], vocab: dict):
    """The training weeks as Dask arrays (features, labels, group sizes), a partition each."""
    import dask
    import dask.array as da

    parts: tuple[list, list, list] = ([], [], [])
    for file in week_files(paths):
        x, rows = stack_files([file.path], features, vocab)
        for out, part in zip(parts, (x, rows.labels, rows.sizes), strict=True):
            future = client.scatter(part)
            out.append(da.from_delayed(dask.delayed(future), part.shape, part.dtype))
        del x, rows
    return tuple(da.concatenate(p) for p in parts)


def best_iteration(
    booster: object, valid: Stacked, truth: pd.DataFrame, patience: int
) -> tuple[int, list[float]]:
    """(best iteration, MAP@12 after each tree up to the stop) on the ``valid`` rows, as
    :func:`lightgbm.early_stopping` with ``patience`` rounds would find it."""
    x, groups = valid()
    n_buyers = truth[schema.CUSTOMER_ID].nunique()
    metric = GroupedMap.prepare(
        groups.labels, groups.ids(), bought_counts(groups.customers, truth), n_buyers
    )
    scores = np.zeros(len(x), np.float64)
    curve: list[float] = []
    best = 0
    for i in range(booster.current_iteration()):
        scores += booster.predict(x, start_iteration=i, num_iteration=1, raw_score=True)
        curve.append(float(metric(scores)))
        if curve[-1] > curve[best]:
            best = i
        if i - best >= patience:
            break
    return best + 1, curve
