"""The compiled forest scores exactly as LightGBM does, and is compiled once per model file."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.ranking.compiled import cache_path, compile_booster, compile_file
from recsys.ranking.ranker import Ranker, RankerConfig


def booster(objective: str, rounds: int = 20, seed: int = 0):
    """A small booster on features with NaNs and exact zeros, and those features."""
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4000, 8)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    signal = np.nan_to_num(x[:, 0]) + np.isnan(x[:, 1]) + rng.normal(size=len(x))
    label = (signal > 1).astype(int)
    group = [20] * (len(x) // 20) if objective == "lambdarank" else None
    params = {"objective": objective, "num_leaves": 15, "verbosity": -1, "seed": seed}
    return lgb.train(params, lgb.Dataset(x, label, group=group), rounds), x


@pytest.mark.parametrize("objective", ["lambdarank", "binary"])
@pytest.mark.parametrize("iterations", [None, 7])
def test_compiled_scores_equal_lightgbm(objective: str, iterations: int | None) -> None:
    model, x = booster(objective)
    compiled = compile_booster(model, iterations)
    want = model.predict(x, num_iteration=iterations)
    np.testing.assert_array_equal(compiled.predict(x, threads=1), want)
    np.testing.assert_array_equal(compiled.predict(x, threads=2), want)
    np.testing.assert_array_equal(compiled.predict(x[:1], threads=2), want[:1])
    assert compiled.predict(x[:0]).shape == (0,)
    with pytest.raises(ValueError, match="features"):
        compiled.predict(x[:, :5])


def test_the_compiled_forest_is_cached_beside_the_model(tmp_path) -> None:
    model, x = booster("lambdarank")
    model.save_model(str(tmp_path / "model.txt"))
    first = compile_file(tmp_path / "model.txt")
    cached = cache_path(tmp_path / "model.txt")
    assert cached.exists() and cached.parent == tmp_path
    assert not list(tmp_path.glob(".*.tmp"))
    stamp = cached.stat().st_mtime_ns
    again = compile_file(tmp_path / "model.txt")  # loaded, not compiled again
    assert cached.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.predict(x), first.predict(x))
    other, _ = booster("lambdarank", rounds=5, seed=1)
    other.save_model(str(tmp_path / "model.txt"))  # another model: another key
    assert cache_path(tmp_path / "model.txt") != cached
    np.testing.assert_array_equal(compile_file(tmp_path / "model.txt").predict(x), other.predict(x))


def test_a_loaded_ranker_scores_with_its_best_iteration_and_carries_its_cache(tmp_path) -> None:
    model, x = booster("lambdarank")
    names = [f"f{i}" for i in range(x.shape[1])]
    ranker = Ranker(model, names, {}, RankerConfig(threads=1), best_iteration=9)
    want = model.predict(x, num_iteration=9)
    np.testing.assert_array_equal(ranker.predict(x), want)  # in memory: truncated on the fly
    loaded = Ranker.load(ranker.save(tmp_path / "a"))
    np.testing.assert_array_equal(loaded.predict(x, threads=2), want)
    assert cache_path(tmp_path / "a" / "model.txt").exists()
    loaded.save(tmp_path / "b")  # e.g. into a package: the object code travels along
    assert cache_path(tmp_path / "b" / "model.txt").exists()
    np.testing.assert_array_equal(Ranker.load(tmp_path / "b").predict(x), want)
