"""Hand-built retriever inputs: transactions from a few (days ago, customer, article) rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys import schema


def purchases(
    cutoff: dt.date, days_ago: Sequence[int], customers: Sequence[int], articles: Sequence[int]
) -> pd.DataFrame:
    """Typed transactions (price 0.01, online) dated ``days_ago`` before ``cutoff``, by date."""
    return pd.DataFrame(
        {
            schema.T_DAT: pd.Timestamp(cutoff) - pd.to_timedelta(np.asarray(days_ago), unit="D"),
            schema.CUSTOMER_ID: np.asarray(customers, np.int64),
            schema.ARTICLE_ID: np.asarray(articles, np.int32),
            schema.PRICE: np.float32(0.01),
            schema.SALES_CHANNEL_ID: np.int8(2),
        }
    ).sort_values(schema.T_DAT, kind="stable", ignore_index=True)
