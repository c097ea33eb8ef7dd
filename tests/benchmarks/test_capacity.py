"""The capacity model's arithmetic (Amdahl's parallel share from two measured wall times)."""

from __future__ import annotations

import pytest

from benchmarks.capacity import parallel_share


@pytest.mark.parametrize(
    ("one", "two", "share"),
    [(100, 50, 1.0), (100, 100, 0.0), (90, 60, 2 / 3), (100, 120, 0.0), (100, 40, 1.0), (0, 5, 0)],
)
def test_the_parallel_share_is_amdahls(one: float, two: float, share: float) -> None:
    assert parallel_share(one, two) == pytest.approx(share)
