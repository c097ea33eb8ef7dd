"""The weekly loop with ``HM_DASK=local:2`` writes what the loop writes without a cluster."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from flows.publish import RECS
from flows.weekly import weekly_retrain
from recsys.schema import CUTOFF
from recsys.settings import Settings
from tests.flows.conftest import SOURCES, tiny_run_settings
from tests.flows.test_weekly import LAST_WEEK


def outputs(settings: Settings) -> dict[str, pd.DataFrame]:
    """The run's training weeks, validation week, member lists and batch, by name."""
    runs = settings.paths.runs
    weeks = [pd.read_parquet(path) for path in runs.glob("train_week/*/frame.parquet")]
    frames = {f"train {w[CUTOFF].iloc[0].date()}": w for w in weeks}  # folders: by key, not date
    frames = dict(sorted(frames.items()))
    for name in ("frame", "truth", "sources"):
        [path] = runs.glob(f"valid_week/*/{name}.parquet")
        frames[f"valid {name}"] = pd.read_parquet(path)
    [path] = runs.glob(f"batch/*/{RECS}")
    frames["batch"] = pd.read_parquet(path)
    return frames


def store_files(settings: Settings) -> dict[str, bytes]:
    """The bytes of the candidate store's arrays (its meta names the run, so it differs)."""
    [store] = [p for p in settings.paths.candidates.iterdir() if not p.is_symlink()]
    return {p.name: p.read_bytes() for p in sorted(store.glob("*.bin"))}


def answer_files(settings: Settings) -> dict[str, bytes]:
    """The bytes of the answers ranked ahead (every customer's list, ids and lengths)."""
    [folder] = [p for p in settings.paths.answers.iterdir() if p.is_dir() and not p.is_symlink()]
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.npy"))}


@pytest.mark.slow
def test_the_loop_on_a_local_dask_cluster_writes_what_it_writes_here(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None
) -> None:
    runs = {}
    for where, dask in (("here", None), ("cluster", "local:2")):
        home = tmp_path_factory.mktemp(where) / "home"
        shutil.copytree(published_home, home)
        settings = tiny_run_settings(home, dask=dask)
        summary = weekly_retrain(as_of=LAST_WEEK, sources=SOURCES, settings=settings)
        runs[where] = (settings, summary)
    (here, at_home), (cluster, on_cluster) = runs["here"], runs["cluster"]
    assert on_cluster.gate.map == at_home.gate.map and on_cluster.gate.promoted
    want, got = outputs(here), outputs(cluster)
    assert list(got) == list(want) and len(want) == 2 + 3 + 1  # two training weeks
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)
    assert store_files(cluster) == store_files(here)
    answers = answer_files(here)
    assert answers and answer_files(cluster) == answers
    submissions = [Path(s.batch.path).read_bytes() for s in (at_home, on_cluster)]
    assert submissions[0] == submissions[1]


def test_a_training_set_over_the_limit_trains_on_the_cluster(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None, cluster
) -> None:
    from recsys.parallel import Parallel
    from recsys.ranking.train import fit_ranker

    home = tmp_path_factory.mktemp("limit") / "home"
    shutil.copytree(published_home, home)
    settings = tiny_run_settings(home)
    weekly_retrain(as_of=LAST_WEEK, sources=SOURCES, settings=settings)
    runs = settings.paths.runs
    train = sorted(runs.glob("train_week/*/frame.parquet"))
    [valid] = [p.parent for p in runs.glob("valid_week/*/frame.parquet")]
    here = fit_ranker(settings, train, valid, where=Parallel(client=cluster))  # under the limit
    tiny = settings.model_copy(update={"dask_train_gib": 1e-9})
    remote = fit_ranker(tiny, train, valid, where=Parallel(client=cluster))
    assert remote.features == here.features and remote.vocab == here.vocab
    assert remote.booster.model_to_string() != here.booster.model_to_string()
    assert max(remote.curve) == pytest.approx(max(here.curve), abs=0.05)
