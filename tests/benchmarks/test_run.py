"""The benchmark's held-back week: a week file that, added back, gives the world it came from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from benchmarks.run import hold_back_last_week
from recsys import schema


def test_the_last_week_is_held_back_as_a_week_file(tmp_path: Path, tiny_world: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(tiny_world, raw)
    week = hold_back_last_week(raw, tmp_path / "arrival")
    assert week == tmp_path / "arrival" / "transactions" / "2020-09-22.csv"
    original = pd.read_csv(tiny_world / schema.TRANSACTIONS_FILE, dtype=str)
    kept = pd.read_csv(raw / schema.TRANSACTIONS_FILE, dtype=str)
    held = pd.read_csv(week, dtype=str)
    assert kept[schema.T_DAT].max() < "2020-09-16" <= held[schema.T_DAT].min()
    assert held[schema.T_DAT].max() == "2020-09-22" and len(held) > 0
    together = pd.concat([kept, held]).sort_values(list(original.columns), ignore_index=True)
    expected = original.sort_values(list(original.columns), ignore_index=True)
    pd.testing.assert_frame_equal(together, expected)
