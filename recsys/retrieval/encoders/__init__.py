"""Article encoders: one vector per article (float32, L2-normalised, rows aligned with input)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

EncoderKind = Literal["metadata", "text", "scratch"]
ENCODERS: tuple[str, ...] = get_args(EncoderKind)


def encode_articles(articles: pd.DataFrame, kind: str = "metadata", **params: object) -> np.ndarray:
    """Vectors for ``articles`` (rows in the same order) with encoder ``kind``."""
    if kind == "metadata":
        from recsys.retrieval.encoders.metadata import encode_metadata

        return encode_metadata(articles, **params)
    if kind == "text":
        from recsys.retrieval.encoders.pretrained import encode_text

        return encode_text(articles, **params)
    if kind == "scratch":
        from recsys.retrieval.encoders.scratch import encode_scratch

        return encode_scratch(articles, **params)
    raise ValueError(f"unknown encoder {kind!r}; choose one of {list(ENCODERS)}")


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
