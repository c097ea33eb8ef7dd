"""Which weeks train, validate and get predicted; and each week's featurised candidate frame."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs, last_closed_tuesday
from recsys.parallel import Parallel
from recsys.ranking.dataset import CandidateWeek, candidate_week
from recsys.ranking.features import SnapshotFeatures, add_store_features
from recsys.ranking.sampling import Strategy, sample_negatives
from recsys.retrieval.sources import SourceSpec
from recsys.settings import Settings

WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class WeekPlan:
    """Training cutoffs (oldest first), the validation cutoff and the cutoff to predict."""

    train: tuple[dt.date, ...]
    valid: dt.date
    predict: dt.date

    @property
    def all(self) -> list[dt.date]:
        """Every cutoff whose feature snapshots are needed."""
        return [*self.train, self.valid, self.predict]


def plan_weeks(lake: Lake, train_weeks: int, as_of: dt.date | None = None) -> WeekPlan:
    """Last complete week validates, the ``train_weeks`` before it train, the next is predicted.

    ``as_of`` replays the plan as it was on that day: only weeks closed by then are used.
    """
    if train_weeks < 1:
        raise ValueError(f"train_weeks must be >= 1, got {train_weeks}")
    predict = default_cutoffs(lake, 1)[0]
    if as_of is not None:
        predict = min(predict, last_closed_tuesday(as_of) + dt.timedelta(days=1))
    valid = predict - WEEK
    train = tuple(valid - WEEK * i for i in range(train_weeks, 0, -1))
    return WeekPlan(train=train, valid=valid, predict=predict)


def featurised_week(
    settings: Settings,
    lake: Lake,
    cutoff: dt.date,
    specs: Sequence[SourceSpec],
    k: int,
    customers: np.ndarray | None = None,
    progress: bool = False,
    sampling: tuple[Strategy, int, int] | None = None,
    fit_store: Path | None = None,
    keep: int | None = None,
    chunks: tuple[Parallel, int] | None = None,
) -> CandidateWeek:
    """A candidate week with the Feast customer and article features joined point in time.

    ``sampling`` = (strategy, negatives, seed) samples the rows before the (wide) store
    features are joined, so a training week never holds every candidate's features at once.
    ``fit_store``: where fitted unions are kept and reused (:mod:`recsys.retrieval.fit_cache`).
    ``keep``: also keep each source's own top ``keep`` (:mod:`recsys.ranking.member_lists`).
    ``chunks``: where and in what customer chunks candidates are retrieved (see
    :func:`~recsys.ranking.dataset.candidate_week`).
    """
    week = candidate_week(
        lake, cutoff, specs, k, customers, progress, fit_store, keep, settings.threads, chunks
    )
    if sampling is not None:
        week.frame = sample_negatives(week.frame, *sampling)
    week.frame = add_store_features(settings, week.frame, progress)
    return week


def sample_buyers(lake: Lake, cutoff: dt.date, limit: int, seed: int) -> np.ndarray:
    """The week's buyers, or a seeded random ``limit`` of them (bounds memory at full scale)."""
    from recsys import schema
    from recsys.retrieval.history import target_week

    buyers = np.unique(target_week(lake, cutoff)[schema.CUSTOMER_ID].to_numpy())
    if len(buyers) <= limit:
        return buyers
    return np.sort(np.random.default_rng(seed).choice(buyers, limit, replace=False))


def train_week(
    settings: Settings,
    lake: Lake,
    cutoff: dt.date,
    specs: Sequence[SourceSpec],
    progress: bool = False,
    fit_store: Path | None = None,
    chunks: tuple[Parallel, int] | None = None,
) -> pd.DataFrame:
    """The training rows of the week from ``cutoff``: at most ``HM_TRAIN_CUSTOMERS`` of its
    buyers, negatives sampled before the store features are joined (seeded by the cutoff, so a
    week's rows are the same whichever run builds them)."""
    seed = settings.seed + cutoff.toordinal()
    sampling = (settings.sampling, settings.negatives, seed)
    buyers = sample_buyers(lake, cutoff, settings.train_customers, seed)
    k = settings.candidates
    week = featurised_week(
        settings, lake, cutoff, specs, k, buyers, progress, sampling, fit_store, chunks=chunks
    )
    return week.frame


def valid_week(
    settings: Settings,
    lake: Lake,
    cutoff: dt.date,
    specs: Sequence[SourceSpec],
    progress: bool = False,
    fit_store: Path | None = None,
    chunks: tuple[Parallel, int] | None = None,
) -> CandidateWeek:
    """Every candidate of (at most ``HM_VALID_CUSTOMERS``) buyers; truth cut to those buyers;
    each source's own top ``HM_CANDIDATES`` kept for evaluation.

    The store features are not joined: they are placed from the cutoff's snapshot (``store``,
    read when first scored) straight into the ranker's matrix. Every candidate of 20k buyers
    with its ~150 store columns would otherwise be the largest frame of the loop.
    """
    from recsys import schema

    asked = sample_buyers(lake, cutoff, settings.valid_customers, settings.seed)
    k = settings.candidates
    threads = settings.threads
    week = candidate_week(lake, cutoff, specs, k, asked, progress, fit_store, k, threads, chunks)
    week.truth = week.truth[week.truth[schema.CUSTOMER_ID].isin(asked)]
    week.store = SnapshotFeatures(settings, cutoff)
    return week
