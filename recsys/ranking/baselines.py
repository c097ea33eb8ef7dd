"""The reference baselines every ranker is shown next to, computed from the history alone.

- ``popularity``: the 12 best sellers of the last week, for everyone.
- ``repurchase_popularity``: the customer's own purchases of the last ``days`` days (most recent
  first, then most often), topped up with the last week's best sellers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.recommend import fill_with
from recsys.retrieval.history import History
from recsys.schema import K

BASELINE = "repurchase_popularity"  # repurchase, then popularity: what the ranker must beat
POPULAR_DAYS = 7  # the best sellers are those of these last days
REPURCHASE_DAYS = 28  # the repurchase baseline proposes the purchases of these last days


def popular_list(history: History, days: int = POPULAR_DAYS, k: int = K) -> pd.DataFrame:
    """The global best sellers of the last ``days`` days as a fallback list (customer_id -1)."""
    counts = history.recent(days)[schema.ARTICLE_ID].value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable").head(k)
    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.full(len(counts), -1, np.int64),
            schema.ARTICLE_ID: counts.index.to_numpy(np.int32),
            schema.RANK: np.arange(1, len(counts) + 1),
        }
    )


def recent_purchases(history: History, days: int = REPURCHASE_DAYS) -> pd.DataFrame:
    """Each customer's articles of the last ``days`` days: latest first, then most bought."""
    tx = history.recent(days)
    stats = tx.groupby([schema.CUSTOMER_ID, schema.ARTICLE_ID]).agg(
        last=(schema.T_DAT, "max"), n=(schema.T_DAT, "size")
    )
    stats = stats.reset_index().sort_values(
        [schema.CUSTOMER_ID, "last", "n", schema.ARTICLE_ID], ascending=[True, False, False, True]
    )
    stats[schema.RANK] = stats.groupby(schema.CUSTOMER_ID).cumcount() + 1
    return stats[[schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.RANK]]


def baseline_recommendations(history: History, customers: np.ndarray) -> dict[str, pd.DataFrame]:
    """Top-12 lists of both baselines for ``customers``."""
    popular = popular_list(history)
    nothing = popular.iloc[:0]
    return {
        "popularity": fill_with(nothing, popular, customers),
        BASELINE: fill_with(recent_purchases(history), popular, customers),
    }
