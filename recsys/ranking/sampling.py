"""Negative sampling of training candidates: all, random per customer, or hard negatives."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from recsys import schema

LABEL = "label"
Strategy = Literal["all", "random", "hard"]


def sample_negatives(
    frame: pd.DataFrame, strategy: Strategy = "random", negatives: int = 50, seed: int = 42
) -> pd.DataFrame:
    """Keep every positive and, per customer, ``negatives`` negatives chosen by ``strategy``.

    ``all`` keeps every candidate; ``random`` draws uniformly among the customer's negatives;
    ``hard`` keeps the best-ranked negatives (``rank`` of the union: what retrieval liked most
    but the customer did not buy). Customers without any positive are dropped: a LambdaRank
    group without a relevant item carries no gradient.
    """
    has_pos = frame.groupby(schema.CUSTOMER_ID)[LABEL].transform("max").to_numpy() > 0
    frame = frame[has_pos]
    if strategy == "all":
        return frame.reset_index(drop=True)
    if strategy not in ("random", "hard"):
        raise ValueError(f"unknown sampling strategy {strategy!r}: all | random | hard")
    neg = frame[LABEL].to_numpy() == 0
    if strategy == "random":
        key = np.random.default_rng(seed).random(len(frame))
    else:
        key = frame[schema.RANK].to_numpy(np.float64)
    order = np.lexsort((key, frame[schema.CUSTOMER_ID].to_numpy()))
    sorted_neg = neg[order]
    cust = frame[schema.CUSTOMER_ID].to_numpy()[order]
    starts = np.r_[True, cust[1:] != cust[:-1]]
    running = np.cumsum(sorted_neg)
    neg_seen = running - np.maximum.accumulate(np.where(starts, running - sorted_neg, 0))
    keep_sorted = ~sorted_neg | (neg_seen <= negatives)
    keep = np.zeros(len(frame), bool)
    keep[order] = keep_sorted
    return frame[keep].reset_index(drop=True)
