"""Top-k metrics over frames: ``ranked`` (customer_id, article_id, rank) vs ``truth`` (purchases).

The population is the customers in ``truth`` (Kaggle leaves customers without purchases in the
target week out); a customer with no recommendation scores 0. Vectorised: a merge and group sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema

KEYS = [schema.CUSTOMER_ID, schema.ARTICLE_ID]


def truth_sizes(truth: pd.DataFrame) -> pd.Series:
    """Distinct purchased articles per customer."""
    return truth.drop_duplicates(KEYS).groupby(schema.CUSTOMER_ID).size()


def _hits(ranked: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """Recommended rows within rank ``k`` that were bought: customer_id, rank."""
    top = ranked.loc[ranked[schema.RANK] <= k, [*KEYS, schema.RANK]]
    bought = truth[KEYS].drop_duplicates()
    return top.merge(bought, on=KEYS, how="inner")[[schema.CUSTOMER_ID, schema.RANK]]


def _mean_over_truth(per_customer: pd.Series, sizes: pd.Series) -> float:
    """Mean of ``per_customer`` over every customer of the truth (absent = 0)."""
    if len(sizes) == 0:
        return float("nan")
    return float(per_customer.reindex(sizes.index, fill_value=0.0).sum() / len(sizes))


def map_at_k(ranked: pd.DataFrame, truth: pd.DataFrame, k: int = 12) -> float:
    """Kaggle's MAP@k: mean over buyers of sum(precision@i at hits) / min(#bought, k)."""
    sizes = truth_sizes(truth)
    hits = _hits(ranked, truth, k).sort_values([schema.CUSTOMER_ID, schema.RANK])
    nth_hit = hits.groupby(schema.CUSTOMER_ID).cumcount().to_numpy() + 1
    precision = pd.Series(nth_hit / hits[schema.RANK].to_numpy(), index=hits[schema.CUSTOMER_ID])
    ap = precision.groupby(level=0).sum() / np.minimum(sizes, k).reindex(precision.index.unique())
    return _mean_over_truth(ap, sizes)


def recall_at_k(ranked: pd.DataFrame, truth: pd.DataFrame, k: int = 12) -> float:
    """Mean over buyers of (bought articles within the top k) / (articles bought)."""
    sizes = truth_sizes(truth)
    hits = _hits(ranked, truth, k).groupby(schema.CUSTOMER_ID).size()
    return _mean_over_truth(hits / sizes.reindex(hits.index), sizes)


def pair_recall_at_k(ranked: pd.DataFrame, truth: pd.DataFrame, k: int = 12) -> float:
    """Share of all purchased (customer, article) pairs found within the top k (micro recall)."""
    n_pairs = len(truth[KEYS].drop_duplicates())
    return float(len(_hits(ranked, truth, k)) / n_pairs) if n_pairs else float("nan")


def ndcg_at_k(ranked: pd.DataFrame, truth: pd.DataFrame, k: int = 12) -> float:
    """Mean NDCG@k with binary relevance (ideal: min(#bought, k) hits at the top)."""
    sizes = truth_sizes(truth)
    hits = _hits(ranked, truth, k)
    gains = pd.Series(
        1.0 / np.log2(hits[schema.RANK].to_numpy() + 1.0), index=hits[schema.CUSTOMER_ID]
    )
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = pd.Series(np.cumsum(discounts)[np.minimum(sizes.to_numpy(), k) - 1], index=sizes.index)
    dcg = gains.groupby(level=0).sum()
    return _mean_over_truth(dcg / ideal.reindex(dcg.index), sizes)


def hit_rate_at_k(ranked: pd.DataFrame, truth: pd.DataFrame, k: int = 12) -> float:
    """Share of buyers with at least one purchased article in their top k."""
    sizes = truth_sizes(truth)
    hit = _hits(ranked, truth, k).groupby(schema.CUSTOMER_ID).size().clip(upper=1).astype(float)
    return _mean_over_truth(hit, sizes)


def ranking_metrics(ranked: pd.DataFrame, truth: pd.DataFrame, k: int = 12) -> dict[str, float]:
    """MAP, recall, NDCG and hit rate at ``k`` in one dict (keys like ``map@12``)."""
    return {
        f"map@{k}": map_at_k(ranked, truth, k),
        f"recall@{k}": recall_at_k(ranked, truth, k),
        f"ndcg@{k}": ndcg_at_k(ranked, truth, k),
        f"hit_rate@{k}": hit_rate_at_k(ranked, truth, k),
    }
