"""From scores to recommendation lists: top-k per customer, topped up from a fallback list."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.base import group_rank
from recsys.schema import K


def top_by_score(frame: pd.DataFrame, scores: np.ndarray, k: int = K) -> pd.DataFrame:
    """``customer_id, article_id, score, rank``: the ``k`` best-scored rows per customer."""
    cust = frame[schema.CUSTOMER_ID].to_numpy(np.int64)
    art = frame[schema.ARTICLE_ID].to_numpy(np.int32)
    order = np.lexsort((art, -np.asarray(scores, np.float64), cust))
    rank = group_rank(cust[order])
    keep = order[rank <= k]
    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: cust[keep],
            schema.ARTICLE_ID: art[keep],
            schema.SCORE: np.asarray(scores, np.float32)[keep],
            schema.RANK: rank[rank <= k],
        }
    )


def fill_with(
    primary: pd.DataFrame, fallback: pd.DataFrame, customers: np.ndarray, k: int = K
) -> pd.DataFrame:
    """Each customer's ``primary`` list, then ``fallback`` items not already in it, cut to ``k``.

    ``fallback`` rows with ``customer_id`` -1 apply to every customer (a global list); otherwise
    they are per customer. The output has ``customer_id, article_id, rank`` for all ``customers``.
    """
    customers = np.unique(np.asarray(customers, np.int64))
    globals_ = fallback[fallback[schema.CUSTOMER_ID] == -1]
    per_customer = fallback[fallback[schema.CUSTOMER_ID] != -1]
    broadcast = pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.repeat(customers, len(globals_)),
            schema.ARTICLE_ID: np.tile(globals_[schema.ARTICLE_ID].to_numpy(), len(customers)),
            schema.RANK: np.tile(globals_[schema.RANK].to_numpy(), len(customers)),
        }
    )
    parts = [
        primary[primary[schema.CUSTOMER_ID].isin(customers)].assign(_tier=0),
        per_customer[per_customer[schema.CUSTOMER_ID].isin(customers)].assign(_tier=1),
        broadcast.assign(_tier=2),
    ]
    cols = [schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.RANK, "_tier"]
    both = pd.concat([p[cols] for p in parts], ignore_index=True)
    both = both.sort_values([schema.CUSTOMER_ID, "_tier", schema.RANK], kind="stable")
    both = both.drop_duplicates([schema.CUSTOMER_ID, schema.ARTICLE_ID], keep="first")
    rank = group_rank(both[schema.CUSTOMER_ID].to_numpy())
    out = both.assign(**{schema.RANK: rank})[rank <= k]
    return out[[schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.RANK]].reset_index(drop=True)
