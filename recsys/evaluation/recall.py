"""Recall and coverage tables for candidate sources on a held-out week."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from recsys import schema
from recsys.evaluation.metrics import pair_recall_at_k
from recsys.evaluation.metrics import recall_at_k as _recall

DEFAULT_KS = (12, 50, 100, 200)


def recall_at_k(
    candidates: pd.DataFrame, truth: pd.DataFrame, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Recall@k (mean over buyers) and pair recall@k for each ``k``, plus coverage.

    ``candidates`` are one source's (or the union's) rows with ``rank``; ``truth`` the purchases of
    the held-out week. Coverage: share of buyers with any candidate, and the number of distinct
    articles the source proposes, with the mean candidates per buyer.
    """
    buyers = truth[schema.CUSTOMER_ID].unique()
    mine = candidates[candidates[schema.CUSTOMER_ID].isin(buyers)]
    row: dict[str, float] = {}
    for k in ks:
        row[f"recall@{k}"] = _recall(mine, truth, k)
        row[f"pair_recall@{k}"] = pair_recall_at_k(mine, truth, k)
    row["customer_coverage"] = float(mine[schema.CUSTOMER_ID].nunique() / max(len(buyers), 1))
    row["articles"] = float(mine[schema.ARTICLE_ID].nunique())
    row["candidates_per_buyer"] = float(len(mine) / max(len(buyers), 1))
    return row


def recall_table(
    per_source: dict[str, pd.DataFrame], truth: pd.DataFrame, ks: Sequence[int] = DEFAULT_KS
) -> pd.DataFrame:
    """One :func:`recall_at_k` row per source (index: source name)."""
    rows = {name: recall_at_k(frame, truth, ks) for name, frame in per_source.items()}
    return pd.DataFrame.from_dict(rows, orient="index")
