"""Members' own lists kept with a week: compact on disk, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from recsys import schema
from recsys.ranking.member_lists import FILE, MemberLists, load_lists, save_lists
from recsys.retrieval.base import empty_candidates, finalize, top_k


def lists() -> MemberLists:
    """Three members' top 3 for customers 1 and 2 (b proposes nothing to customer 2, c nothing
    at all)."""
    a = top_k(np.array([1, 1, 1, 2, 2, 2]), [5, 6, 7, 5, 8, 9], [3, 2, 1, 9, 8, 7], 3)
    b = top_k(np.array([1, 1]), [7, 5], [2, 1], 3)
    return MemberLists(
        {"a": finalize(a, "a"), "b": finalize(b, "b"), "c": empty_candidates("c")}, 3
    )


def test_cut_gives_each_member_top_k_as_retrieve_does() -> None:
    parts = lists().cut(2)
    assert list(parts) == ["a", "b", "c"]
    own = top_k(np.array([1, 1, 1, 2, 2, 2]), [5, 6, 7, 5, 8, 9], [3, 2, 1, 9, 8, 7], 2)
    pd.testing.assert_frame_equal(parts["a"], finalize(own, "a"))
    assert parts["b"][schema.ARTICLE_ID].tolist() == [7, 5] and parts["c"].empty
    with pytest.raises(ValueError, match="top 3"):
        lists().cut(4)


def test_lists_round_trip_compact(tmp_path: Path) -> None:
    save_lists(lists(), tmp_path)
    back = load_lists(tmp_path)
    assert back is not None and back.k == 3 and list(back.lists) == ["a", "b", "c"]
    for name, frame in lists().lists.items():
        pd.testing.assert_frame_equal(back.lists[name], frame)
    on_disk = pq.read_table(tmp_path / FILE).to_pandas()
    assert on_disk[schema.RANK].dtype == np.int16 and on_disk[schema.ARTICLE_ID].dtype == np.int32
    assert list(on_disk[schema.SOURCE].cat.categories) == ["a", "b", "c"]
    assert [p.name for p in tmp_path.iterdir()] == [FILE]  # nothing partial left behind


def test_a_folder_without_lists_or_with_only_a_partial_file_has_none(tmp_path: Path) -> None:
    assert load_lists(tmp_path) is None
    (tmp_path / f".{FILE}.partial").write_bytes(b"PAR1 cut short")
    assert load_lists(tmp_path) is None
