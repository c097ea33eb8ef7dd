"""Remembered article vectors: the same catalogue is encoded once, a changed one again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.encoders import encode_articles, memo
from recsys.retrieval.encoders.metadata import METADATA_COLUMNS


def catalogue(n: int = 40) -> pd.DataFrame:
    """``n`` articles with random catalogue attributes."""
    rng = np.random.default_rng(0)
    attributes = {col: rng.integers(0, 6, n) for col in METADATA_COLUMNS}
    return pd.DataFrame({schema.ARTICLE_ID: np.arange(1, n + 1, dtype=np.int32), **attributes})


@pytest.fixture(autouse=True)
def empty_memo():
    memo.forget()
    yield
    memo.forget()


def test_same_catalogue_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def counting(articles, kind="metadata", **params):
        calls.append(kind)
        return encode_articles(articles, kind, **params)

    monkeypatch.setattr(memo, "encode_articles", counting)
    first = memo.encode_remembered(catalogue(), "metadata", dim=8, seed=1)
    again = memo.encode_remembered(catalogue().copy(), "metadata", dim=8, seed=1)
    assert again is first and calls == ["metadata"]
    np.testing.assert_array_equal(first, encode_articles(catalogue(), "metadata", dim=8, seed=1))
    assert not first.flags.writeable  # shared: nobody may change it in place


def test_changed_catalogue_or_parameters_are_encoded_again() -> None:
    base = memo.encode_remembered(catalogue(), "metadata", dim=8, seed=1)
    changed = catalogue()
    changed.loc[3, "colour_group_code"] = 99
    assert memo.encode_remembered(changed, "metadata", dim=8, seed=1) is not base
    assert memo.encode_remembered(catalogue(), "metadata", dim=8, seed=2) is not base
    assert memo.encode_remembered(catalogue()[::-1], "metadata", dim=8, seed=1) is not base


def test_memory_is_bounded() -> None:
    for seed in range(memo.MEMO_SIZE + 3):
        memo.encode_remembered(catalogue(), "metadata", dim=8, seed=seed)
    assert len(memo._MEMO) == memo.MEMO_SIZE
