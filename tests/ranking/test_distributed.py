"""The ranker trained on a Dask cluster: early stopping's stop, the local ranker's quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.ranking.distributed import best_iteration, fit_on_cluster, training_bytes
from recsys.ranking.ranker import RankerConfig
from recsys.ranking.rows import learn_file_vocab, stack_files
from recsys.ranking.sampling import LABEL
from recsys.ranking.train import fit_stacked
from tests.ranking.test_rows import FEATURES, A, C, week


@pytest.fixture
def weeks(tmp_path: Path) -> tuple[list[Path], Path]:
    """Four training weeks of 400 customers and a validation week, as files."""
    paths = []
    for i, cutoff in enumerate(["2020-08-12", "2020-08-19", "2020-08-26", "2020-09-02"]):
        paths.append(tmp_path / f"w{i}.parquet")
        week(10 + i, cutoff, n_customers=400).to_parquet(paths[-1], index=False)
    valid = tmp_path / "valid.parquet"
    week(20, "2020-09-09", n_customers=400).to_parquet(valid, index=False)
    return paths, valid


def test_the_stop_is_the_one_early_stopping_finds(weeks) -> None:
    import pandas as pd

    paths, valid = weeks
    frame = pd.read_parquet(valid)
    truth = frame.loc[frame[LABEL] == 1, [C, A]]
    vocab = learn_file_vocab(paths)
    config = RankerConfig(n_estimators=60, early_stopping_rounds=8, threads=1, learning_rate=0.3)
    stacked = (
        lambda: stack_files(paths, FEATURES, vocab),
        lambda: stack_files([valid], FEATURES, vocab),
    )
    stopped = fit_stacked(*stacked, truth, FEATURES, vocab, config)
    unstopped = RankerConfig(**{**config.__dict__, "early_stopping_rounds": 10**6})
    whole = fit_stacked(*stacked, truth, FEATURES, vocab, unstopped)
    best, curve = best_iteration(whole.booster, stacked[1], truth, config.early_stopping_rounds)
    assert best == stopped.best_iteration and stopped.best_iteration < whole.best_iteration
    np.testing.assert_allclose(curve, stopped.curve)


def test_a_ranker_trained_on_a_cluster_ranks_as_well_as_one_trained_here(weeks, cluster) -> None:
    import pandas as pd

    paths, valid = weeks
    frame = pd.read_parquet(valid)
    truth = frame.loc[frame[LABEL] == 1, [C, A]]
    vocab = learn_file_vocab(paths)
    config = RankerConfig(n_estimators=40, early_stopping_rounds=10, threads=1, min_data_in_leaf=20)
    stack_valid = lambda: stack_files([valid], FEATURES, vocab)  # noqa: E731
    stack_train = lambda: stack_files(paths, FEATURES, vocab)  # noqa: E731
    here = fit_stacked(stack_train, stack_valid, truth, FEATURES, vocab, config)
    remote = fit_on_cluster(cluster, paths, stack_valid, truth, FEATURES, vocab, config)
    assert training_bytes(paths, FEATURES) == 4 * 400 * 8 * len(FEATURES) * 4
    assert remote.features == FEATURES and 1 <= remote.best_iteration <= 40
    assert max(remote.curve) == pytest.approx(max(here.curve), abs=0.03)
    x, _ = stack_valid()
    scores = remote.predict(x)
    assert np.isfinite(scores).all() and len(np.unique(scores)) > 10
