"""Article metadata embeddings: one-hot catalogue attributes reduced by truncated SVD."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from recsys.retrieval.encoders import l2_normalize

METADATA_COLUMNS = (
    "product_code",
    "product_type_no",
    "product_group_name",
    "graphical_appearance_no",
    "colour_group_code",
    "perceived_colour_value_id",
    "perceived_colour_master_id",
    "department_no",
    "index_code",
    "index_group_no",
    "section_no",
    "garment_group_no",
)


def one_hot(articles: pd.DataFrame, columns: tuple[str, ...] = METADATA_COLUMNS) -> sp.csr_matrix:
    """A sparse article x attribute-value indicator matrix (each block scaled to unit norm)."""
    blocks = []
    for col in columns:
        codes, _ = pd.factorize(articles[col], sort=True)
        rows = np.arange(len(articles))
        data = np.ones(len(articles), dtype=np.float32)
        blocks.append(sp.csr_matrix((data, (rows, codes)), shape=(len(articles), codes.max() + 1)))
    return sp.hstack(blocks, format="csr") / np.sqrt(len(columns))


def encode_metadata(articles: pd.DataFrame, dim: int = 64, seed: int = 42) -> np.ndarray:
    """``dim``-dimensional unit vectors from the articles' categorical attributes."""
    matrix = one_hot(articles)
    dim = max(1, min(dim, min(matrix.shape) - 1))
    svd = TruncatedSVD(n_components=dim, random_state=seed)
    return l2_normalize(svd.fit_transform(matrix))
