"""Group sums in numpy: bit for bit what pandas' groupby().sum() gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.retrieval.groupsum import group_sums


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_sums_equal_pandas_bit_for_bit(dtype) -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    keys = rng.integers(-50, 3_000, n).astype(np.int64)
    scale = rng.choice(np.array([1e-4, 1.0, 1e4]), n)
    values = (rng.random(n) * scale).astype(dtype)
    values[:3] = [np.inf, -np.inf, 1.0]  # infinities stay infinite (no NaN from compensation)
    keys[:2] = 7
    expected = pd.Series(values).groupby(keys).sum()
    got_keys, got = group_sums(keys, values)
    assert np.array_equal(got_keys, expected.index.to_numpy())
    assert got.dtype == dtype
    assert np.array_equal(got, expected.to_numpy(), equal_nan=True)


def test_group_sums_of_nothing() -> None:
    keys, sums = group_sums(np.zeros(0, np.int64), np.zeros(0, np.float32))
    assert len(keys) == 0 and len(sums) == 0 and sums.dtype == np.float32
