"""Training the ranker: LightGBM with early stopping on the validation week's Kaggle MAP@12."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recsys import schema
from recsys.parallel import Parallel
from recsys.ranking.dataset import saved_source_names, union_columns
from recsys.ranking.distributed import fit_on_cluster, training_bytes
from recsys.ranking.features import SnapshotFeatures, store_feature_names
from recsys.ranking.interactions import feature_names
from recsys.ranking.ranker import Ranker, RankerConfig
from recsys.ranking.rows import (
    Groups,
    Stacked,
    file_cutoff,
    learn_file_vocab,
    stack_files,
    stack_frame,
)
from recsys.ranking.stopping import GroupedMap, bought_counts
from recsys.ranking.vocab import learn_vocab
from recsys.settings import Settings

METRIC = "map@12"


def map_metric(valid: Groups, truth: pd.DataFrame):
    """An ``lgb.train`` ``feval`` computing Kaggle MAP@12 on the ``valid`` groups."""
    n_true = bought_counts(valid.customers, truth)
    n_buyers = truth[schema.CUSTOMER_ID].nunique()
    metric = GroupedMap.prepare(valid.labels, valid.ids(), n_true, n_buyers)

    def feval(preds: np.ndarray, _data: object) -> tuple[str, float, bool]:
        return METRIC, metric(preds), True

    return feval


def datasets(train: Stacked, valid: Stacked, features: list[str], config: RankerConfig):
    """LightGBM's binned training and validation sets, plus the validation groups.

    Each float matrix lives only until LightGBM has binned it (the binned set is ~4x smaller).
    """
    import lightgbm as lgb

    params = config.lgb_params()
    x, rows = train()
    group = rows.sizes if config.objective == "lambdarank" else None
    dtrain = lgb.Dataset(
        x, rows.labels, group=group, feature_name=features, params=params, free_raw_data=True
    ).construct()
    del x, rows
    x, groups = valid()
    dvalid = lgb.Dataset(
        x, groups.labels, reference=dtrain, params=params, free_raw_data=True
    ).construct()
    return dtrain, dvalid, groups


def fit_stacked(
    train: Stacked,
    valid: Stacked,
    valid_truth: pd.DataFrame,
    features: list[str],
    vocab: dict[str, list[str]],
    config: RankerConfig,
) -> Ranker:
    """Fit on the ``train`` rows, early-stop on the ``valid`` rows' MAP@12."""
    import lightgbm as lgb

    dtrain, dvalid, groups = datasets(train, valid, features, config)
    record: dict = {}
    booster = lgb.train(
        config.lgb_params(),
        dtrain,
        num_boost_round=config.n_estimators,
        valid_sets=[dvalid],
        valid_names=["valid"],
        feval=map_metric(groups, valid_truth),
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False),
            lgb.record_evaluation(record),
        ],
    )
    curve = [float(v) for v in record["valid"][METRIC]]
    return Ranker(booster, features, vocab, config, booster.best_iteration, curve)


def train_ranker(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    valid_truth: pd.DataFrame,
    features: list[str],
    config: RankerConfig | None = None,
) -> Ranker:
    """Fit on ``train`` (grouped per cutoff and customer), early-stop on ``valid``'s MAP@12."""
    vocab = learn_vocab(train)
    return fit_stacked(
        lambda: stack_frame(train, features, vocab),
        lambda: stack_frame(valid, features, vocab),
        valid_truth,
        features,
        vocab,
        config or RankerConfig(),
    )


def model_features(source_names: Sequence[str]) -> list[str]:
    """The ranker's inputs: union features, interactions, and the ``ranker_v1`` store features."""
    store = store_feature_names()
    union = union_columns(source_names)
    return [*union, *feature_names(), *store["customer"], *store["article"]]


def fit_ranker(
    settings: Settings,
    train: Sequence[Path],
    valid: Path,
    objective: Literal["lambdarank", "binary"] = "lambdarank",
    where: Parallel | None = None,
) -> Ranker:
    """LightGBM on the training weeks' frames (``frame.parquet`` files), early-stopped on the
    MAP@12 of the validation week saved under ``valid``; reads only the columns it uses.

    The validation week's store features are placed from its cutoff's snapshot (it is saved
    without them, see :func:`~recsys.ranking.weeks.valid_week`). On a cluster (``where``), a
    LambdaRank training matrix larger than ``HM_DASK_TRAIN_GIB`` trains across its workers
    (:mod:`recsys.ranking.distributed`).
    """
    config = RankerConfig(objective=objective, seed=settings.seed, threads=settings.threads)
    features = model_features(saved_source_names(valid / "union"))
    vocab = learn_file_vocab(train)
    frame = valid / "frame.parquet"

    def stack_valid() -> tuple[np.ndarray, Groups]:  # the snapshot is freed once placed
        store = SnapshotFeatures(settings, file_cutoff(frame))
        return stack_files([frame], features, vocab, store.blocks(features, vocab))

    truth = pd.read_parquet(valid / "truth.parquet")
    cluster = where.client if where is not None and objective == "lambdarank" else None
    if cluster is not None and training_bytes(train, features) > settings.dask_train_gib * 2**30:
        return fit_on_cluster(cluster, train, stack_valid, truth, features, vocab, config)
    return fit_stacked(
        lambda: stack_files(train, features, vocab),
        stack_valid,
        truth,
        features,
        vocab,
        config,
    )
