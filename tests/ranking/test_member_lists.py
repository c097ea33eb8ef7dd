"""Members' own lists kept with a week: compact on disk, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.ranking.member_lists import FILE, MemberLists, load_lists, save_lists
from recsys.retrieval.base import finalize, top_k


def lists() -> MemberLists:
    """Two members' top 3 for customers 1 and 2 (b proposes nothing to customer 2)."""
    frame = pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.array([1, 1, 1, 2, 2, 2, 1, 1], np.int64),
            schema.ARTICLE_ID: np.array([5, 6, 7, 5, 8, 9, 7, 5], np.int32),
            schema.SCORE: np.array([3, 2, 1, 9, 8, 7, 2, 1], np.float32),
            schema.RANK: np.array([1, 2, 3, 1, 2, 3, 1, 2], np.int16),
            schema.SOURCE: pd.Categorical.from_codes([0, 0, 0, 0, 0, 0, 1, 1], ["a", "b"]),
        }
    )
    return MemberLists(frame, 3)


def test_split_gives_each_member_list_as_retrieve_does() -> None:
    parts = lists().split(2)
    assert list(parts) == ["a", "b"]
    own = top_k(np.array([1, 1, 1, 2, 2, 2]), [5, 6, 7, 5, 8, 9], [3, 2, 1, 9, 8, 7], 2)
    pd.testing.assert_frame_equal(parts["a"], finalize(own, "a"))
    assert parts["b"][schema.ARTICLE_ID].tolist() == [7, 5]
    with pytest.raises(ValueError, match="top 3"):
        lists().split(4)


def test_lists_round_trip_compact(tmp_path: Path) -> None:
    save_lists(lists(), tmp_path)
    back = load_lists(tmp_path)
    assert back is not None and back.k == 3
    pd.testing.assert_frame_equal(back.frame, lists().frame)
    assert back.frame[schema.RANK].dtype == np.int16
    assert [p.name for p in tmp_path.iterdir()] == [FILE]  # nothing partial left behind


def test_a_folder_without_lists_or_with_a_partial_file_has_none(tmp_path: Path) -> None:
    assert load_lists(tmp_path) is None
    (tmp_path / f".{FILE}.partial").write_bytes(b"PAR1 cut short")
    assert load_lists(tmp_path) is None
