"""Evaluation: MAP@12 as Kaggle computes it, recall, NDCG, hit rate, and retrieval recall tables."""

from recsys.evaluation.metrics import (
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    ranking_metrics,
    recall_at_k,
)

__all__ = ["hit_rate_at_k", "map_at_k", "ndcg_at_k", "ranking_metrics", "recall_at_k"]
