"""The ranker on the validation week next to the baselines and each single source (MAP@12 etc.)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import schema
from recsys.evaluation.metrics import ranking_metrics
from recsys.ranking.baselines import (
    POPULAR_DAYS,
    REPURCHASE_DAYS,
    baseline_recommendations,
    popular_list,
)
from recsys.ranking.dataset import CandidateWeek
from recsys.ranking.ranker import Ranker
from recsys.ranking.recommend import fill_with, top_by_score
from recsys.schema import K

RANKER = "ranker"


@dataclass
class Evaluation:
    """The ranker on the validation week: next to the baselines and every single source."""

    comparison: pd.DataFrame  # a row per model: map@12, recall@12, ndcg@12, hit_rate@12
    recall: dict[str, float]  # the candidate pool's recall@K (and candidates per buyer)
    sources: pd.DataFrame  # recall@12..K of each source alone and of the union
    segments: pd.DataFrame | None = None  # active vs dormant buyers (HM_ACTIVE_WEEKS)
    binary: pd.DataFrame | None = None  # the binary-classifier variant's row, if trained

    @property
    def map(self) -> float:
        """The ranker's MAP@12."""
        return float(self.comparison.loc[RANKER, "map@12"])


def evaluate_ranker(
    week: CandidateWeek,
    ranker: Ranker,
    candidates: int,
    active_weeks: int | None = None,
    binary: Ranker | None = None,
) -> Evaluation:
    """The ranker (and ``binary``) on ``week``: comparison, candidate recall and source recall.

    Every source's own list at ``candidates`` serves both tables (cut from the lists kept with
    the week, else retrieved once); the ranker scores the week once for the comparison and the
    active/dormant segments. The week's history needs only :func:`history_weeks` weeks.
    """
    sources = source_lists(week, candidates)
    ranked = ranker_recommendations(week, ranker)
    evaluation = Evaluation(
        comparison_table(week, ranker, sources, ranked),
        candidate_recall(week),
        source_recall(week, candidates, sources),
    )
    if active_weeks is not None:
        evaluation.segments = segment_table(week, ranked, active_weeks)
    if binary is not None:
        evaluation.binary = comparison_table(week, binary, sources).loc[[RANKER]]
    return evaluation


def history_weeks(active_weeks: int | None) -> int:
    """Weeks of history before the cutoff that :func:`evaluate_ranker` reads: the best sellers,
    the repurchase baseline's window and the active/dormant split (``active_weeks``)."""
    days = max(POPULAR_DAYS, REPURCHASE_DAYS, 7 * (active_weeks or 0))
    return -(-days // 7)


def candidate_recall(week: CandidateWeek) -> dict[str, float]:
    """Recall of the week's candidate pool at 12/50/100/200 (up to its width)."""
    from recsys.evaluation.recall import recall_at_k

    widest = int(week.frame[schema.RANK].max())
    ks = sorted({k for k in (12, 50, 100, 200) if k < widest} | {widest})
    return recall_at_k(week.frame, week.truth, ks)


def source_recall(
    week: CandidateWeek, k: int, sources: dict[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Recall@12..k of each source alone (``sources``: their top ``k``) and of the union."""
    from recsys.evaluation.recall import recall_table

    frames = dict(sources if sources is not None else source_lists(week, k))
    frames["union"] = week.frame
    ks = [c for c in (12, 50, 100, 200) if c <= k]
    return recall_table(frames, week.truth, ks)


def ranker_recommendations(week: CandidateWeek, ranker: Ranker) -> pd.DataFrame:
    """The ranker's top 12 per customer of the week, topped up with last week's best sellers."""
    customers = np.unique(week.frame[schema.CUSTOMER_ID].to_numpy())
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    ranked = top_by_score(week.frame, week.score(ranker), K)
    return fill_with(ranked, popular_list(week.history), np.union1d(customers, buyers))


def source_lists(week: CandidateWeek, k: int = K) -> dict[str, pd.DataFrame]:
    """Each single source's own top ``k`` for the week's buyers (no top-up): cut from the lists
    kept with the week where they reach ``k``, else retrieved."""
    if week.sources is not None and week.sources.k >= k:
        return week.sources.cut(k)
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    return {name: member.retrieve(buyers, k) for name, member in week.union.members.items()}


def comparison_table(
    week: CandidateWeek,
    ranker: Ranker,
    sources: dict[str, pd.DataFrame] | None = None,
    ranked: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """MAP@12, recall@12, NDCG@12 and hit rate of the ranker, both baselines and every source.

    ``sources`` (from :func:`source_lists`, any k >= 12) and ``ranked`` (the ranker's
    :func:`ranker_recommendations`) save retrieving and scoring them again.
    """
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    lists = {RANKER: ranked if ranked is not None else ranker_recommendations(week, ranker)}
    lists |= baseline_recommendations(week.history, buyers)
    own = sources if sources is not None else source_lists(week)
    lists |= {f"source:{n}": frame[frame[schema.RANK] <= K] for n, frame in own.items()}
    rows = {name: ranking_metrics(recs, week.truth, K) for name, recs in lists.items()}
    return pd.DataFrame.from_dict(rows, orient="index").sort_values("map@12", ascending=False)


def segment_table(week: CandidateWeek, ranked: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """MAP@12 of the week's active and dormant buyers (no purchase in ``weeks`` weeks).

    ``ranked`` is the ranker's :func:`ranker_recommendations` for the week.

    Shows what ``HM_ACTIVE_WEEKS`` costs: the ranker on each segment, the age-bucket best
    sellers the batch gives dormant customers instead, and the blend the batch serves.
    """
    from recsys.evaluation.metrics import map_at_k
    from recsys.ranking.batch import active_mask
    from recsys.ranking.coldstart import dormant_recommendations

    buyers = np.unique(week.truth[schema.CUSTOMER_ID].to_numpy())
    active = active_mask(week.history, buyers, weeks)
    fallback = dormant_recommendations(week.union, popular_list(week.history), buyers[~active])
    served = pd.concat([ranked[ranked[schema.CUSTOMER_ID].isin(buyers[active])], fallback])
    rows = {
        "active.ranker": (ranked, buyers[active]),
        "dormant.ranker": (ranked, buyers[~active]),
        "dormant.best_sellers": (fallback, buyers[~active]),
        "all.ranker": (ranked, buyers),
        "all.served": (served, buyers),
    }
    table = {
        name: {"buyers": len(who), "map@12": map_at_k(recs, _only(week.truth, who), K)}
        for name, (recs, who) in rows.items()
    }
    return pd.DataFrame.from_dict(table, orient="index")


def _only(truth: pd.DataFrame, customers: np.ndarray) -> pd.DataFrame:
    """The purchases of ``customers``."""
    return truth[truth[schema.CUSTOMER_ID].isin(customers)]
