"""Week files stacked into LightGBM's inputs equal the sorted concatenation, and train the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.ranking import rows
from recsys.ranking.ranker import RankerConfig, group_ids, matrix, sort_groups
from recsys.ranking.rows import learn_file_vocab, stack_files
from recsys.ranking.sampling import LABEL
from recsys.ranking.train import fit_stacked, train_ranker
from recsys.ranking.vocab import learn_vocab
from recsys.schema import CUTOFF

C, A = schema.CUSTOMER_ID, schema.ARTICLE_ID
FEATURES = ["x", "noise", "a_index_code", "absent"]


def week(seed: int, cutoff: str, n_customers: int = 60) -> pd.DataFrame:
    """A shuffled candidate week: 8 rows per customer, a string feature and an unused column."""
    rng = np.random.default_rng(seed)
    cust = np.repeat(rng.permutation(n_customers * 3)[:n_customers].astype(np.int64), 8)
    x = rng.normal(size=len(cust))
    frame = pd.DataFrame(
        {
            C: cust,
            A: rng.integers(0, 500, len(cust)).astype(np.int32),
            "x": x,
            "noise": rng.normal(size=len(cust)).astype(np.float32),
            "a_index_code": rng.choice(["A", "B", None, "D"], len(cust)),
            "unused": "text",
            LABEL: (x + rng.normal(scale=0.5, size=len(cust)) > 1.2).astype(np.int8),
            CUTOFF: pd.Timestamp(cutoff),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture
def weeks(tmp_path: Path) -> tuple[list[Path], pd.DataFrame]:
    """Three week files written out of cutoff order, and their concatenation."""
    frames = [week(1, "2020-09-02"), week(2, "2020-08-19"), week(3, "2020-08-26")]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"w{i}.parquet")
        frame.to_parquet(paths[-1], index=False)
    return paths, pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("at_once", [1, 16])
def test_stacked_files_equal_the_sorted_concatenation(weeks, at_once, monkeypatch) -> None:
    monkeypatch.setattr(rows, "COLUMNS_AT_ONCE", at_once)
    paths, whole = weeks
    vocab = learn_file_vocab(paths)
    assert vocab == learn_vocab(whole) and vocab["a_index_code"] == ["A", "B", "D"]
    x, groups = stack_files(paths, FEATURES, vocab)
    ordered = sort_groups(whole)
    np.testing.assert_array_equal(x, matrix(ordered, FEATURES, vocab))
    assert x.flags.f_contiguous and x.dtype == np.float32 and np.isnan(x[:, 3]).all()
    np.testing.assert_array_equal(groups.labels, ordered[LABEL].to_numpy())
    np.testing.assert_array_equal(groups.sizes, np.bincount(group_ids(ordered)))
    np.testing.assert_array_equal(groups.ids(), group_ids(ordered))
    first = np.r_[True, np.diff(group_ids(ordered)) != 0]
    np.testing.assert_array_equal(groups.customers, ordered[C].to_numpy()[first])


def test_files_sharing_a_cutoff_are_refused(tmp_path: Path) -> None:
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    week(1, "2020-09-02").to_parquet(paths[0], index=False)
    week(2, "2020-09-02").to_parquet(paths[1], index=False)
    with pytest.raises(ValueError, match="share cutoffs"):
        stack_files(paths, FEATURES, {})


def test_a_ranker_from_files_equals_one_from_the_concatenated_frame(weeks, tmp_path) -> None:
    paths, whole = weeks
    valid = week(4, "2020-09-09")
    valid.to_parquet(tmp_path / "valid.parquet", index=False)
    truth = valid.loc[valid[LABEL] == 1, [C, A]]
    config = RankerConfig(n_estimators=30, early_stopping_rounds=10, threads=1)
    in_memory = train_ranker(whole, valid, truth, FEATURES, config)
    vocab = learn_file_vocab(paths)
    from_files = fit_stacked(
        lambda: stack_files(paths, FEATURES, vocab),
        lambda: stack_files([tmp_path / "valid.parquet"], FEATURES, vocab),
        truth,
        FEATURES,
        vocab,
        config,
    )
    assert from_files.booster.model_to_string() == in_memory.booster.model_to_string()
    assert from_files.curve == in_memory.curve and from_files.vocab == in_memory.vocab
