"""The ranker on the validation week next to the baselines and each single source (MAP@12 etc.)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema
from recsys.evaluation.metrics import ranking_metrics
from recsys.ranking.baselines import baseline_recommendations, popular_list
from recsys.ranking.dataset import CandidateWeek
from recsys.ranking.ranker import Ranker
from recsys.ranking.recommend import K, fill_with, top_by_score

RANKER = "ranker"


def ranker_recommendations(week: CandidateWeek, ranker: Ranker) -> pd.DataFrame:
    """The ranker's top 12 per customer of the week, topped up with last week's best sellers."""
    customers = np.unique(week.frame[schema.CUSTOMER_ID].to_numpy())
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    ranked = top_by_score(week.frame, ranker.score(week.frame), K)
    return fill_with(ranked, popular_list(week.history), np.union1d(customers, buyers))


def source_recommendations(week: CandidateWeek) -> dict[str, pd.DataFrame]:
    """Each single source's own top 12 for the week's buyers (no top-up)."""
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    return {
        f"source:{name}": member.retrieve(buyers, K) for name, member in week.union.members.items()
    }


def comparison_table(week: CandidateWeek, ranker: Ranker) -> pd.DataFrame:
    """MAP@12, recall@12, NDCG@12 and hit rate of the ranker, both baselines and every source."""
    buyers = week.truth[schema.CUSTOMER_ID].unique()
    lists = {RANKER: ranker_recommendations(week, ranker)}
    lists |= baseline_recommendations(week.history, buyers)
    lists |= source_recommendations(week)
    rows = {name: ranking_metrics(recs, week.truth, K) for name, recs in lists.items()}
    return pd.DataFrame.from_dict(rows, orient="index").sort_values("map@12", ascending=False)
