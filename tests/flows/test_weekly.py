"""`weekly_retrain` on the tiny world under a real Prefect server, MLflow registry and Feast store.

The module runs in order: last week's retrain (``as_of``), what it registered, published and
wrote; this week's crashed and resumed retrain; a cached re-run; a worse model; bad input.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.summary import RunSummary
from flows.weekly import weekly_retrain
from recsys import registry, schema
from recsys.data.errors import ValidationFailed
from recsys.data.lake import Lake
from recsys.features import store
from recsys.ranking.package import RecommenderPackage
from recsys.ranking.submission import read_submission
from recsys.schema import FALLBACK
from recsys.settings import Settings
from tests.flows.conftest import SOURCES

WORSE = [{"kind": "popularity", "quota": 30, "name": "popular_week", "mode": "global"}]
LAST_WEEK = dt.date(2020, 9, 20)  # the tiny world ends 2020-09-22: predicts from 2020-09-16

STAGE_WORK = {  # the library function each stage runs when it is not a cache hit
    "training week": ("recsys.ranking.weeks", "train_week"),
    "validation week": ("recsys.ranking.weeks", "valid_week"),
    "serving union": ("recsys.ranking.assembly", "fit_serving_union"),
    "fit union": ("recsys.retrieval.fit_cache", "fit_union"),
    "fit ranker": ("recsys.ranking.train", "fit_ranker"),
    "evaluate and register": ("recsys.ranking.evaluate", "evaluate_ranker"),
    "rank every customer": ("recsys.ranking.batch", "recommend_everyone"),
    "materialize": ("recsys.features.materialize", "materialize"),
    "rank answers ahead": ("serving.ahead", "precompute"),
}


class StageWork:
    """How often each stage's work ran, in this process or in the processes the stages fork
    (:mod:`flows.own_process`): counts in shared memory, read as a :class:`Counter`."""

    def __init__(self, stages: list[str]) -> None:
        import multiprocessing as mp

        self.stages, self.counts = stages, mp.get_context("fork").Array("i", len(stages))

    def hit(self, stage: str) -> None:
        with self.counts.get_lock():
            self.counts[self.stages.index(stage)] += 1

    def counter(self) -> Counter:
        return Counter({s: n for s, n in zip(self.stages, self.counts, strict=True) if n})

    def __getitem__(self, stage: str) -> int:
        return self.counter()[stage]

    def __eq__(self, other: object) -> bool:
        return self.counter() == other

    def __repr__(self) -> str:
        return repr(self.counter())


@pytest.fixture
def stage_work(monkeypatch) -> StageWork:
    """How often each stage's work ran, counted by name from ``STAGE_WORK``.

    A cache hit never enters the task's body; counting where the work runs is exact, unlike the
    server's task-run states, which arrive through events some time after the flow returns.
    """
    import importlib

    counts = StageWork(list(STAGE_WORK))
    for stage, (module, name) in STAGE_WORK.items():
        owner = importlib.import_module(module)
        real = getattr(owner, name)

        def counted(*args, _real=real, _stage=stage, **kwargs):
            counts.hit(_stage)
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
    return counts


def live(settings: Settings) -> tuple[str | None, str | None, int]:
    """(online feature stamp, champion version, number of registered versions)."""
    stamp = store.read_stamp(store.open_store(settings), settings)
    champion = registry.version_by_alias(settings, registry.CHAMPION)
    versions = registry.client(settings).search_model_versions(f"name='{registry.MODEL_NAME}'")
    return stamp, None if champion is None else str(champion.version), len(versions)


@pytest.fixture(scope="module")
def last_week(flow_settings: Settings) -> RunSummary:
    """Last week's retrain: what is live when this week's runs start."""
    return weekly_retrain(as_of=LAST_WEEK, sources=SOURCES, settings=flow_settings)


def test_weekly_retrain_registers_publishes_batches_and_reports(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    from prefect.artifacts import Artifact

    assert last_week.plan.predict == "2020-09-16"
    assert last_week.gate.promoted and last_week.gate.version == "1"
    stamp, champion, _ = live(flow_settings)
    assert stamp == last_week.published.features_version and stamp.startswith("2020-09-16@")
    assert champion == last_week.published.champion == "1"
    assert last_week.published.candidates > 0
    assert last_week.published.answers == last_week.published.candidates
    report = last_week.markdown()
    for section in ("Data checks", "Features", "Candidate recall", "MAP@12 vs baselines"):
        assert f"## {section}" in report
    assert "promoted" in report and Artifact.get("weekly-retrain").data == report
    assert list(last_week.timings) == [
        "ingest", "features", "candidates", "train", "evaluate", "publish", "batch"
    ]  # fmt: skip


def test_only_the_unions_next_week_can_reuse_are_kept(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    """Six unions were fitted (four training weeks, validation, serving); next week's run loads
    the last two (see the crash test: it fits one union only)."""
    from flows.retrieval import UNIONS_KEPT, union_store

    kept = [p for p in union_store(flow_settings).iterdir() if not p.name.startswith(".")]
    assert len(kept) == UNIONS_KEPT < 6


def test_the_ranker_beats_both_baselines_and_every_source(last_week: RunSummary) -> None:
    gate = last_week.gate
    assert gate.map > gate.map_of("repurchase_popularity") > 0
    assert gate.map > gate.map_of("popularity")
    sources = [r for r in gate.table if r["model"].startswith("source:")]
    assert len(sources) == len(SOURCES) and all(r["map@12"] < gate.map for r in sources)


def test_the_submission_covers_every_customer_with_12_known_articles(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    lake = Lake(flow_settings.paths.lake)
    customers = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_HEX]).to_pandas()
    catalogue = set(lake.read(schema.ARTICLES, [schema.ARTICLE_ID]).to_pandas()[schema.ARTICLE_ID])
    path = Path(last_week.batch.path)
    assert path == flow_settings.paths.submissions / "2020-09-16.csv"
    sub = read_submission(path)
    assert sub["customer_id"].tolist() == customers[schema.CUSTOMER_HEX].tolist()
    ids = sub["prediction"].str.split(" ")
    assert (ids.str.len() == 12).all() and last_week.batch.rows == len(sub)
    flat = np.concatenate(ids.to_numpy())
    assert all(len(i) == 10 for i in flat[:100])
    assert set(flat.astype(int)) <= catalogue


def test_the_run_is_logged_with_its_contract_and_registered(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    client = registry.client(flow_settings)
    run = client.get_run(last_week.gate.run_id)
    assert run.data.params["feature_service"] == "ranker_v1"
    assert run.data.params["lake_version"] == last_week.data.version
    assert run.data.metrics["ranker.map_at_12"] == pytest.approx(last_week.gate.map, abs=1e-4)
    assert "popularity.map_at_12" in run.data.metrics
    paths = {a.path for a in client.list_artifacts(last_week.gate.run_id, "evaluation")}
    assert "evaluation/map_vs_baselines.png" in paths and "evaluation/importance.csv" in paths
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        version = registry.version_by_alias(flow_settings, alias)
        assert str(version.version) == last_week.gate.version


def test_a_package_is_fetched_as_hard_links_into_the_artifact_store(
    last_week: RunSummary, flow_settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    import os

    from mlflow.artifacts import download_artifacts

    folder = registry.download_package(flow_settings, version="1").parent.parent
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files and all((folder / f).stat().st_nlink >= 2 for f in files)  # links, not copies
    uri = f"models:/{registry.MODEL_NAME}/1"
    copy = Path(download_artifacts(uri, dst_path=str(tmp_path / "download")))
    downloaded = {p.relative_to(copy) for p in copy.rglob("*") if p.is_file()}
    assert downloaded - set(files) == {Path("registered_model_meta")}  # MLflow's own note
    assert all((copy / f).read_bytes() == (folder / f).read_bytes() for f in files)

    def cross_device(src: str, dst: str) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)  # the artifact store on another disk
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert not registry.linked(uri, elsewhere) and not any(elsewhere.iterdir())


def test_the_pyfunc_turns_customers_into_ranked_articles(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    import mlflow

    registry.client(flow_settings)
    model = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}@{registry.CHAMPION}")
    lake = Lake(flow_settings.paths.lake)
    tx = lake.read(schema.TRANSACTIONS, [schema.CUSTOMER_ID]).to_pandas()
    asked = pd.DataFrame({"customer_id": [*tx[schema.CUSTOMER_ID].unique()[:5], 123456789]})
    got = model.predict(asked, params={"k": 12})
    assert got.groupby(schema.CUSTOMER_ID).size().tolist() == [12] * 6
    cold = got[got[schema.CUSTOMER_ID] == 123456789]
    assert set(cold[schema.SOURCE]) <= {"popular_age", FALLBACK}
    package = RecommenderPackage.load(registry.download_package(flow_settings))
    assert package.meta["feature_service"] == "ranker_v1"


def test_the_batch_ranks_active_customers_and_gives_dormant_ones_age_best_sellers(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    from recsys.ranking.batch import active_mask, batch_recommendations
    from recsys.ranking.features import SnapshotFeatures
    from recsys.retrieval.history import load_history

    lake = Lake(flow_settings.paths.lake)
    package = RecommenderPackage.load(registry.download_package(flow_settings))
    history = load_history(lake, package.cutoff)
    ids = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).to_pandas()[schema.CUSTOMER_ID]
    customers = np.unique(ids)
    reader = SnapshotFeatures(flow_settings, package.cutoff)
    everyone = batch_recommendations(package, customers, history, reader, (60, 97, None))
    split = batch_recommendations(package, customers, history, reader, (60, 1000, 4))
    active = active_mask(history, customers, 4)
    assert 0 < active.sum() < len(customers)
    for recs in (everyone, split):
        assert recs[schema.CUSTOMER_ID].unique().tolist() == customers.tolist()
        assert recs.groupby(schema.CUSTOMER_ID)[schema.RANK].apply(list).map(len).eq(12).all()
    ranked = split[schema.CUSTOMER_ID].isin(customers[active])
    pd.testing.assert_frame_equal(
        split[ranked].reset_index(drop=True),
        everyone[everyone[schema.CUSTOMER_ID].isin(customers[active])].reset_index(drop=True),
    )
    assert set(split.loc[~ranked, schema.SOURCE]) <= {"popular_age", FALLBACK}


def test_the_batch_in_forked_workers_equals_the_batch_in_one_process(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    from recsys.ranking.batch import batch_recommendations
    from recsys.ranking.features import SnapshotFeatures
    from recsys.retrieval.history import load_history

    lake = Lake(flow_settings.paths.lake)
    package = RecommenderPackage.load(registry.download_package(flow_settings))
    history = load_history(lake, package.cutoff)
    ids = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).to_pandas()[schema.CUSTOMER_ID]
    reader = SnapshotFeatures(flow_settings, package.cutoff)
    rows: dict[int, list[pd.DataFrame]] = {1: [], 2: []}
    got = {
        workers: batch_recommendations(
            package,
            ids.to_numpy(),
            history,
            reader,
            (60, 53, 8),
            sink=rows[workers].append,
            workers=workers,
        )
        for workers in (1, 2)
    }
    pd.testing.assert_frame_equal(got[2], got[1])
    assert len(rows[2]) == len(rows[1]) > 2  # chunks, in ascending customer order
    starts = [int(r[schema.CUSTOMER_ID].min()) for r in rows[2]]
    assert starts == sorted(starts)
    for forked, here in zip(rows[2], rows[1], strict=True):
        pd.testing.assert_frame_equal(forked, here)


def test_the_batch_stage_on_a_local_dask_cluster_equals_the_stage_here(
    last_week: RunSummary, flow_settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    import filecmp

    import recsys.ranking.batch
    from flows.cluster import run_cluster
    from flows.publish import RECS, batch_task

    package_dir = str(registry.download_package(flow_settings))
    stores = {"here": tmp_path / "store_here", "cluster": tmp_path / "store_cluster"}
    for where in ("here", "cluster"):
        monkeypatch.setattr(recsys.ranking.batch, "package_store", lambda *_, w=where: stores[w])
        settings = flow_settings.model_copy(
            update={"dask": "local:2" if where == "cluster" else None}
        )
        with run_cluster(settings) as run:
            assert (run.dask or "").startswith("tcp://") == (where == "cluster")
            batch_task.fn(run, "key", str(tmp_path / where), package_dir, False)
    here, cluster = (pd.read_parquet(tmp_path / w / RECS) for w in ("here", "cluster"))
    pd.testing.assert_frame_equal(cluster, here, check_exact=True)
    names = sorted(p.name for p in stores["here"].iterdir())
    assert names and names == sorted(p.name for p in stores["cluster"].iterdir())
    _, mismatch, errors = filecmp.cmpfiles(stores["here"], stores["cluster"], names, shallow=False)
    assert not mismatch and not errors  # the candidate store, byte for byte


def test_a_crash_keeps_last_week_live_and_a_rerun_resumes(
    last_week: RunSummary, flow_settings: Settings, monkeypatch, stage_work: StageWork
) -> None:
    import recsys.ranking.train

    before = live(flow_settings)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while training the ranker")

    with monkeypatch.context() as patch:
        patch.setattr(recsys.ranking.train, "fit_ranker", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            weekly_retrain(sources=SOURCES, settings=flow_settings)
    assert live(flow_settings) == before  # last week's features and champion stay live
    assert stage_work["validation week"] == 1
    # last week's run fitted the unions of every cutoff but the newly predicted week: reused;
    # its training weeks, keyed on the lake's content up to their end, are reused likewise
    assert stage_work["fit union"] == 1 and stage_work["training week"] == 1
    summary = weekly_retrain(sources=SOURCES, settings=flow_settings)
    assert stage_work["validation week"] == 1  # resumed from the cache, not rebuilt
    assert stage_work["fit ranker"] == 1 and stage_work["evaluate and register"] == 1
    assert summary.plan.predict == "2020-09-23"
    stamp, champion, _ = live(flow_settings)
    assert stamp.startswith("2020-09-23@") and champion == summary.published.champion


def test_a_rerun_hits_the_cache_and_registers_nothing_new(
    last_week: RunSummary, flow_settings: Settings, stage_work: StageWork
) -> None:
    before = live(flow_settings)
    summary = weekly_retrain(sources=SOURCES, settings=flow_settings)
    assert stage_work == Counter()  # every expensive stage came from the cache
    assert not summary.data.ingested and summary.features.built == 0
    assert not summary.published.materialized
    assert live(flow_settings) == before  # same features, same champion, no new version


def test_the_same_files_on_a_later_day_are_the_same_version_and_every_stage_cached(
    last_week: RunSummary,
    flow_settings: Settings,
    tiny_world: Path,
    stage_work: StageWork,
    monkeypatch,
) -> None:
    import recsys.settings

    before, version = live(flow_settings), Lake(flow_settings.paths.lake).current_version()
    later = dt.date.today() + dt.timedelta(days=40)
    monkeypatch.setattr(recsys.settings, "today", lambda: later)
    summary = weekly_retrain(raw_dir=str(tiny_world), sources=SOURCES, settings=flow_settings)
    assert not summary.data.ingested and summary.data.version == version
    assert stage_work == Counter() and summary.features.built == 0
    assert live(flow_settings) == before


def test_a_worse_model_is_registered_but_never_promoted(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    stamp, champion, versions = live(flow_settings)
    summary = weekly_retrain(sources=WORSE, settings=flow_settings)
    assert not summary.gate.promoted
    assert summary.gate.map < summary.gate.champion_map
    assert summary.published.champion == champion and summary.batch.version == champion
    assert live(flow_settings) == (stamp, champion, versions + 1)
    challenger = registry.version_by_alias(flow_settings, registry.CHALLENGER)
    assert str(challenger.version) == summary.gate.version
    assert not registry.promotion_decision(flow_settings, summary.gate.version).promote


def test_hm_promote_publishes_a_version_before_it_becomes_champion(
    last_week: RunSummary, flow_settings: Settings
) -> None:
    from typer.testing import CliRunner

    from recsys.cli import app

    challenger = str(registry.version_by_alias(flow_settings, registry.CHALLENGER).version)
    _, champion, _ = live(flow_settings)
    assert challenger != champion
    args = ["--home", str(flow_settings.home), "promote", "--version", challenger]
    refused = CliRunner().invoke(app, args, env={"HM_THREADS": "1"})
    assert refused.exit_code == 1 and "not promoted" in refused.output  # it lost the gate
    forced = CliRunner().invoke(app, [*args, "--force"], env={"HM_THREADS": "1"})
    assert forced.exit_code == 0, forced.output
    assert f"version {challenger} is champion" in forced.output
    from serving.recommender import Recommender

    served = Recommender(flow_settings, on_sale_days=flow_settings.on_sale_days)
    assert served.state.model.version == challenger and served.state.answers is not None
    stores = {p.name for p in flow_settings.paths.candidates.iterdir() if "@" not in p.name}
    assert stores == {store_key(flow_settings, v) for v in (champion, challenger)}  # no others
    registry.set_alias(flow_settings, registry.CHAMPION, champion)


def store_key(settings: Settings, version: str) -> str:
    """The candidate store (package key) of model ``version``."""
    return RecommenderPackage.key_of(registry.download_package(settings, version=version))


def test_bad_input_stops_before_anything_is_materialized_or_registered(
    last_week: RunSummary, flow_settings: Settings, raw_copy: Path
) -> None:
    lines = (raw_copy / "transactions_train.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 2)[0] + ",-0.5,2"  # negative price
    (raw_copy / "transactions_train.csv").write_text("\n".join(lines) + "\n")
    before = live(flow_settings)
    lake_version = Lake(flow_settings.paths.lake).current_version()
    with pytest.raises(ValidationFailed, match="price"):
        weekly_retrain(raw_dir=str(raw_copy), sources=SOURCES, settings=flow_settings)
    assert live(flow_settings) == before
    assert Lake(flow_settings.paths.lake).current_version() == lake_version


def test_a_same_size_edit_in_the_middle_of_a_file_is_a_new_lake_version(
    last_week: RunSummary, flow_settings: Settings, raw_copy: Path
) -> None:
    from flows.validate import validate_raw

    path = raw_copy / "transactions_train.csv"
    lines = path.read_text().splitlines()
    middle = len(lines) // 2
    price = lines[middle].split(",")[3]
    edited = price[:-1] + ("1" if price[-1] != "1" else "2")  # same length, still a price
    lines[middle] = lines[middle].replace(f",{price},", f",{edited},")
    size = path.stat().st_size
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size == size
    version = Lake(flow_settings.paths.lake).current_version()
    facts = validate_raw(flow_settings, str(raw_copy))
    assert facts.ingested and facts.version != version
    assert Lake(flow_settings.paths.lake).current_version() == facts.version
