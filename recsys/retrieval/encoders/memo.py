"""Article vectors remembered per catalogue: a process encodes the same catalogue once.

The weekly loop fits the union at six cutoffs, and two sources (``content``, ``useruser``) encode
the catalogue in each fit; the catalogue does not depend on the cutoff, so the vectors are
computed once per distinct (articles, encoder, parameters) and handed out read-only.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

import numpy as np
import pandas as pd

from recsys.retrieval.encoders import encode_articles

MEMO_SIZE = 2  # catalogues remembered (full H&M metadata vectors: ~27 MiB each)
_MEMO: OrderedDict[str, np.ndarray] = OrderedDict()


def catalogue_key(articles: pd.DataFrame, kind: str, params: dict[str, object]) -> str:
    """A content hash of ``articles`` (values, columns, row order), ``kind`` and ``params``."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(articles, index=False).to_numpy().tobytes())
    described = [list(map(str, articles.columns)), kind, params]
    digest.update(json.dumps(described, default=str).encode())
    return digest.hexdigest()


def encode_remembered(
    articles: pd.DataFrame, kind: str = "metadata", **params: object
) -> np.ndarray:
    """:func:`encode_articles`, answered from memory when this catalogue was encoded the same way.

    The array is shared between callers, so it is returned read-only.
    """
    key = catalogue_key(articles, kind, params)
    vectors = _MEMO.get(key)
    if vectors is None:
        vectors = encode_articles(articles, kind, **params)
        vectors.setflags(write=False)
        _MEMO[key] = vectors
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)
    _MEMO.move_to_end(key)
    return vectors


def forget() -> None:
    """Drop every remembered catalogue."""
    _MEMO.clear()
