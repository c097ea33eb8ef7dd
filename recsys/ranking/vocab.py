"""String features as LightGBM categories: the vocabulary learnt in training, codes at scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.features import spec


def string_features() -> list[str]:
    """Store features holding strings (encoded as categories for LightGBM)."""
    specs = [*spec.customer_features(), *spec.article_features()]
    return [f.name for f in specs if str(f.dtype) == "string"]


def encode_strings(frame: pd.DataFrame, vocab: dict[str, list[str]]) -> pd.DataFrame:
    """String features as float codes of ``vocab`` (unknown -> NaN), in place of the strings."""
    for col, values in vocab.items():
        if col in frame:
            codes = pd.Categorical(frame[col], categories=values).codes.astype(np.float32)
            frame[col] = np.where(codes < 0, np.nan, codes).astype(np.float32)
    return frame


def learn_vocab(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Sorted distinct values of each string feature in ``frame``."""
    return {
        col: sorted(str(v) for v in frame[col].dropna().unique())
        for col in string_features()
        if col in frame
    }
