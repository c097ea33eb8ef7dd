"""Joining store features to candidate rows by position (no merge copies), or placing them in
the ranker's matrix straight from float32 blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.ranking.features import attach, attach_at, keyed, store_block
from recsys.ranking.ranker import matrix


def test_attach_joins_many_to_one_and_leaves_unmatched_rows_null() -> None:
    frame = pd.DataFrame({"customer_id": [3, 1, 3, 9], "article_id": [7, 7, 8, 7]})
    table = pd.DataFrame(
        {
            "customer_id": [1, 3],
            "age": np.array([20.0, 35.0], np.float32),
            "club": ["ACTIVE", "PRE-CREATE"],
        }
    )
    out = attach(frame, table, ["customer_id"])
    assert out.columns.tolist() == ["customer_id", "article_id", "age", "club"]
    assert out["age"].dtype == np.float32
    np.testing.assert_array_equal(out["age"], [35.0, 20.0, 35.0, np.nan])
    assert out["club"].tolist() == ["PRE-CREATE", "ACTIVE", "PRE-CREATE", None]
    pd.testing.assert_frame_equal(out[frame.columns], frame)


def test_attach_on_two_keys_equals_a_left_merge() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(0, 5, 200), "t": rng.integers(0, 3, 200)})
    table = pd.DataFrame({"a": [0, 1, 2, 3, 4, 0], "t": [0, 0, 1, 2, 2, 2], "x": np.arange(6.0)})
    merged = frame.merge(table, on=["a", "t"], how="left")
    pd.testing.assert_frame_equal(attach(frame, table, ["a", "t"]), merged)


def test_attach_refuses_duplicate_feature_rows() -> None:
    table = pd.DataFrame({"customer_id": [1, 1], "age": [20.0, 21.0]})
    with pytest.raises(ValueError, match="not unique"):
        attach(pd.DataFrame({"customer_id": [1]}), table, ["customer_id"])


def test_a_prepared_key_index_joins_as_attach_does_and_refuses_duplicates() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "customer_id": np.arange(50) * 3 - 60,
            "age": rng.random(50).astype(np.float32),
            "club": rng.choice(["ACTIVE", "LEFT"], 50),
        }
    )
    frame = pd.DataFrame({"customer_id": rng.integers(-70, 100, 400)}, index=np.arange(400) + 7)
    index, columns = keyed(table, "customer_id")
    got = attach_at(frame, columns, index.get_indexer(frame["customer_id"]))
    pd.testing.assert_frame_equal(got, attach(frame, table, ["customer_id"]))
    with pytest.raises(ValueError, match="not unique"):
        keyed(pd.concat([table, table.iloc[:1]]), "customer_id")


def test_store_blocks_place_in_the_matrix_exactly_what_the_attached_frame_gives() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(40).astype(np.float32)
    y[::7] = np.nan
    table = pd.DataFrame(
        {
            "customer_id": np.arange(40) * 2 + 5,
            "c_x": rng.random(40).astype(np.float32),
            "c_club": rng.choice(np.array(["A", "B", "Z", None], object), 40),
            "c_y": y,
        }
    )
    index, columns = keyed(table, "customer_id")
    frame = pd.DataFrame(
        {"customer_id": rng.integers(0, 100, 300), "u": rng.random(300).astype(np.float32)}
    )
    attached = attach_at(frame, columns, index.get_indexer(frame["customer_id"]))
    vocab = {"c_club": ["A", "B"]}
    for features in (["u", "c_x", "c_club", "c_y"], ["c_y", "u", "c_x", "absent", "c_club"]):
        block = store_block("customer_id", index, columns, features, vocab)
        got = matrix(frame, features, vocab, [block])
        want = matrix(attached, features, vocab)
        assert got.flags.f_contiguous and np.isnan(got).any()
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
