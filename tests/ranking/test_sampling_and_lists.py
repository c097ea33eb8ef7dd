"""Negative sampling, top-k by score, fallback top-up, baselines and the submission format."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.ranking.baselines import popular_list, recent_purchases
from recsys.ranking.recommend import fill_with, top_by_score
from recsys.ranking.sampling import LABEL, sample_negatives
from recsys.ranking.submission import read_submission, submission_frame, write_submission
from recsys.retrieval.history import History

C, A, R = schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.RANK


def candidates_frame() -> pd.DataFrame:
    """Customer 1: 1 positive among 6; customer 2: no positive; customer 3: 2 of 4."""
    rows = [(1, a, r, int(a == 13)) for r, a in enumerate([10, 11, 12, 13, 14, 15], 1)]
    rows += [(2, a, r, 0) for r, a in enumerate([20, 21, 22], 1)]
    rows += [(3, a, r, int(a in (30, 33))) for r, a in enumerate([30, 31, 32, 33], 1)]
    return pd.DataFrame(rows, columns=[C, A, R, LABEL])


def test_sampling_keeps_positives_and_n_negatives_per_customer() -> None:
    frame = candidates_frame()
    for strategy in ("random", "hard"):
        kept = sample_negatives(frame, strategy, negatives=2, seed=1)
        assert 2 not in set(kept[C])  # no positive, no gradient
        assert kept[LABEL].sum() == 3
        assert (kept[LABEL] == 0).groupby(kept[C]).sum().tolist() == [2, 2]
    hard = sample_negatives(frame, "hard", negatives=2)
    assert sorted(hard.loc[(hard[C] == 1) & (hard[LABEL] == 0), A]) == [10, 11]
    assert len(sample_negatives(frame, "all")) == 10
    again = sample_negatives(frame, "random", 2, seed=1)
    pd.testing.assert_frame_equal(again, sample_negatives(frame, "random", 2, seed=1))
    with pytest.raises(ValueError, match="unknown sampling"):
        sample_negatives(frame, "nope")


def test_top_by_score_and_fill_with_fallback() -> None:
    frame = pd.DataFrame({C: [1, 1, 1, 2], A: [10, 11, 12, 20]})
    top = top_by_score(frame, np.array([0.1, 0.9, 0.5, 0.3]), k=2)
    assert top[A].tolist() == [11, 12, 20] and top[R].tolist() == [1, 2, 1]
    fallback = pd.DataFrame({C: [-1, -1, -1], A: [12, 99, 98], R: [1, 2, 3]})
    filled = fill_with(top, fallback, np.array([1, 2, 7]), k=3)
    assert filled[filled[C] == 1][A].tolist() == [11, 12, 99]  # 12 not repeated
    assert filled[filled[C] == 2][A].tolist() == [20, 12, 99]
    assert filled[filled[C] == 7][A].tolist() == [12, 99, 98]  # cold start: fallback only
    assert filled.groupby(C)[R].apply(list).tolist() == [[1, 2, 3]] * 3


def tiny_history() -> History:
    day = lambda d: pd.Timestamp("2020-09-01") + pd.Timedelta(days=d)  # noqa: E731
    tx = pd.DataFrame(
        {
            schema.T_DAT: [day(0), day(1), day(10), day(11), day(12), day(12), day(13)],
            C: np.array([1, 1, 1, 2, 3, 3, 3], np.int64),
            A: np.array([5, 6, 6, 7, 7, 8, 7], np.int32),
            schema.PRICE: np.float32(0.01),
            schema.SALES_CHANNEL_ID: np.int8(2),
        }
    )
    arts = pd.DataFrame({A: np.array([5, 6, 7, 8], np.int32)})
    custs = pd.DataFrame({C: np.array([1, 2, 3], np.int64), "age": [20.0, 30.0, 40.0]})
    return History(dt.date(2020, 9, 15), tx, arts, custs)


def test_baseline_lists() -> None:
    history = tiny_history()
    popular = popular_list(history, days=7)  # days 8..14: 6, 7, 7, 8, 7
    assert popular[A].tolist() == [7, 6, 8] and (popular[C] == -1).all()
    recent = recent_purchases(history, days=28)
    assert recent[recent[C] == 1][A].tolist() == [6, 5]  # latest first
    assert recent[recent[C] == 3][A].tolist() == [7, 8]  # bought day 13 (and 12) first


def test_submission_has_twelve_padded_ids_per_customer(tmp_path) -> None:
    customers = pd.DataFrame({C: [1, 2], schema.CUSTOMER_HEX: ["a" * 64, "b" * 64]})
    recs = pd.DataFrame(
        {
            C: [2] * 12 + [1] * 12,
            A: list(range(108775015, 108775027)) * 2,
            R: list(range(12, 0, -1)) * 2,
        }
    )
    path = write_submission(submission_frame(recs, customers), tmp_path / "sub.csv")
    sub = read_submission(path)
    assert sub.columns.tolist() == ["customer_id", "prediction"]
    assert sub["customer_id"].tolist() == ["a" * 64, "b" * 64]
    ids = sub["prediction"].iloc[0].split(" ")
    assert len(ids) == 12 and all(len(i) == 10 for i in ids)
    assert ids[0] == "0108775026"  # rank 1 first


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_submission_written_in_parts_is_the_one_written_whole(
    tmp_path, on_cluster: bool, request: pytest.FixtureRequest
) -> None:
    from recsys.parallel import Parallel
    from recsys.ranking.submission import write_submission_in_parts

    rng = np.random.default_rng(18)
    ids = rng.permutation(np.arange(1, 51, dtype=np.int64) * 7919)  # not in id order
    customers = pd.DataFrame({C: ids, schema.CUSTOMER_HEX: [f"{i:064x}" for i in ids]})
    ranked = ids[rng.random(50) < 0.8]  # some customers have no list
    recs = pd.DataFrame(
        {
            C: np.repeat(ranked, 12),
            A: rng.integers(108775015, 959461001, 12 * len(ranked)).astype(np.int32),
            R: np.tile(np.arange(12, 0, -1), len(ranked)),
        }
    ).sample(frac=1, random_state=18)  # rows in any order
    whole = write_submission(submission_frame(recs, customers), tmp_path / "whole.csv")
    where = Parallel(client=request.getfixturevalue("cluster")) if on_cluster else Parallel(1)
    parts = tmp_path / "parts.csv"
    assert write_submission_in_parts(recs, customers, parts, where, size=7) == 50
    assert parts.read_bytes() == whole.read_bytes()
