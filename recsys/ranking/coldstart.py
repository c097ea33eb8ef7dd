"""Lists for customers the ranker does not rank: their age bucket's best sellers.

Unknown customers, and in batch the dormant ones (no purchase in ``HM_ACTIVE_WEEKS``), get the
top of the union's popularity member (by age bucket), topped up from the overall best sellers.
The batch, the evaluation of the active/dormant split and the online server share this.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.recommend import fill_with
from recsys.retrieval.base import Retriever
from recsys.retrieval.union import UnionRetriever
from recsys.schema import FALLBACK, K

COLUMNS = [schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.SCORE, schema.RANK, schema.SOURCE]


def popularity_member(union: UnionRetriever) -> Retriever | None:
    """The union's (first) popularity source: where dormant customers' lists come from."""
    return next((m for m in union.members.values() if m.kind == "popularity"), None)


def dormant_recommendations(
    union: UnionRetriever, popular: pd.DataFrame, customers: np.ndarray, k: int = K
) -> pd.DataFrame:
    """Top ``k`` of the union's popularity member (by age bucket), topped up from ``popular``."""
    customers = np.unique(np.asarray(customers, np.int64))
    member = popularity_member(union)
    if member is None:
        ranked = popular.iloc[:0].assign(**{schema.SCORE: np.float32(0)})
        name = FALLBACK
    else:
        ranked = member.retrieve(customers, k)
        name = member.name
    out = fill_with(ranked, popular, customers, k)
    keys = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    scored = out.merge(ranked[[*keys, schema.SCORE]], on=keys, how="left")
    scored[schema.SOURCE] = np.where(scored[schema.SCORE].isna(), FALLBACK, name)
    scored[schema.SCORE] = scored[schema.SCORE].astype(np.float32)
    return scored[COLUMNS]
