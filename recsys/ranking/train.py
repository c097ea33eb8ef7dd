"""Training the ranker: LightGBM with early stopping on the validation week's Kaggle MAP@12."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.dataset import CandidateWeek, union_columns
from recsys.ranking.features import store_feature_names
from recsys.ranking.interactions import feature_names
from recsys.ranking.ranker import Ranker, RankerConfig, group_ids, matrix, sort_groups
from recsys.ranking.sampling import LABEL
from recsys.ranking.stopping import GroupedMap
from recsys.ranking.vocab import learn_vocab
from recsys.settings import Settings

METRIC = "map@12"


def truth_sizes(frame: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Per group of ``frame`` (sorted), the number of distinct articles its customer bought."""
    sizes = (
        truth.drop_duplicates([schema.CUSTOMER_ID, schema.ARTICLE_ID])
        .groupby(schema.CUSTOMER_ID)
        .size()
    )
    first = np.r_[True, np.diff(group_ids(frame)) != 0]
    customers = frame[schema.CUSTOMER_ID].to_numpy()[first]
    return sizes.reindex(customers, fill_value=0).to_numpy(np.float64)


def map_metric(valid: pd.DataFrame, truth: pd.DataFrame):
    """An ``lgb.train`` ``feval`` computing Kaggle MAP@12 on the sorted ``valid`` frame."""
    groups = group_ids(valid)
    labels = valid[LABEL].to_numpy()
    n_true = truth_sizes(valid, truth)
    metric = GroupedMap.prepare(labels, groups, n_true, truth[schema.CUSTOMER_ID].nunique())

    def feval(preds: np.ndarray, _data: object) -> tuple[str, float, bool]:
        return METRIC, metric(preds), True

    return feval


def train_ranker(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    valid_truth: pd.DataFrame,
    features: list[str],
    config: RankerConfig | None = None,
) -> Ranker:
    """Fit on ``train`` (grouped per cutoff and customer), early-stop on ``valid``'s MAP@12."""
    import lightgbm as lgb

    config = config or RankerConfig()
    train, valid = sort_groups(train), sort_groups(valid)
    vocab = learn_vocab(train)
    group = np.bincount(group_ids(train)) if config.objective == "lambdarank" else None
    dtrain = lgb.Dataset(
        matrix(train, features, vocab),
        train[LABEL].to_numpy(),
        group=group,
        feature_name=features,
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(
        matrix(valid, features, vocab),
        valid[LABEL].to_numpy(),
        reference=dtrain,
        free_raw_data=True,
    )
    record: dict = {}
    booster = lgb.train(
        config.lgb_params(),
        dtrain,
        num_boost_round=config.n_estimators,
        valid_sets=[dvalid],
        valid_names=["valid"],
        feval=map_metric(valid, valid_truth),
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False),
            lgb.record_evaluation(record),
        ],
    )
    curve = [float(v) for v in record["valid"][METRIC]]
    return Ranker(booster, features, vocab, config, booster.best_iteration, curve)


def model_features(week: CandidateWeek) -> list[str]:
    """The ranker's inputs: union features, interactions, and the ``ranker_v1`` store features."""
    store = store_feature_names()
    return [*union_columns(week.union), *feature_names(), *store["customer"], *store["article"]]


def fit_ranker(
    settings: Settings,
    train: pd.DataFrame,
    valid: CandidateWeek,
    objective: Literal["lambdarank", "binary"] = "lambdarank",
) -> Ranker:
    """LightGBM on the sampled training rows, early-stopped on the validation week's MAP@12."""
    config = RankerConfig(objective=objective, seed=settings.seed, threads=settings.threads)
    return train_ranker(train, valid.frame, valid.truth, model_features(valid), config)
