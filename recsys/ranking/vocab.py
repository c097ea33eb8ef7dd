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
            frame[col] = codes(frame[col], values)
    return frame


def codes(values: pd.Series | np.ndarray, categories: list[str]) -> np.ndarray:
    """``values`` as float32 positions in ``categories`` (unknown or null -> NaN)."""
    found = pd.Categorical(values, categories=categories).codes.astype(np.float32)
    return np.where(found < 0, np.nan, found).astype(np.float32)


def learn_vocab(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Sorted distinct values of each string feature in ``frame``."""
    return {
        col: sorted(str(v) for v in frame[col].dropna().unique())
        for col in string_features()
        if col in frame
    }
