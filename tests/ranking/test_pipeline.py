"""`hm pipeline` on the tiny world: ranker vs baselines, submission, MLflow registry and gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import registry, schema
from recsys.data.errors import ValidationFailed
from recsys.data.lake import Lake
from recsys.pipeline import run_pipeline
from recsys.ranking.batch import active_mask, batch_recommendations
from recsys.ranking.features import SnapshotFeatures
from recsys.ranking.package import FALLBACK, RecommenderPackage
from recsys.ranking.submission import read_submission
from recsys.retrieval.history import load_history
from recsys.retrieval.sources import parse_sources
from tests.conftest import make_settings

SOURCES = [
    {"kind": "repurchase", "quota": 30},
    {"kind": "siblings", "quota": 20},
    {"kind": "popularity", "quota": 30, "name": "popular_age", "mode": "age_bucket"},
]
WORSE = [{"kind": "popularity", "quota": 30, "name": "popular_week", "mode": "global"}]


def tiny_settings(home: Path):
    return make_settings(home, train_weeks=2, candidates=60, threads=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, published_home: Path):
    """One pipeline run on a private copy of the tiny home."""
    home = tmp_path_factory.mktemp("pipeline") / "home"
    shutil.copytree(published_home, home)
    settings = tiny_settings(home)
    out = home.parent / "submission.csv"
    result = run_pipeline(settings, None, out, parse_sources(SOURCES), progress=False)
    return settings, result


def test_ranker_beats_both_baselines_and_every_source(trained) -> None:
    _, result = trained
    table = result.comparison
    ranker = table.loc["ranker", "map@12"]
    assert ranker > table.loc["repurchase_popularity", "map@12"]
    assert ranker > table.loc["popularity", "map@12"]
    sources = table[table.index.str.startswith("source:")]
    assert len(sources) == 3 and (sources["map@12"] < ranker).all()


def test_submission_covers_every_customer_with_12_known_articles(trained) -> None:
    settings, result = trained
    lake = Lake(settings.paths.lake)
    customers = lake.read(schema.CUSTOMERS, [schema.CUSTOMER_HEX]).to_pandas()
    catalogue = set(lake.read(schema.ARTICLES, [schema.ARTICLE_ID]).to_pandas()[schema.ARTICLE_ID])
    sub = read_submission(result.submission)
    assert sub["customer_id"].tolist() == customers[schema.CUSTOMER_HEX].tolist()
    ids = sub["prediction"].str.split(" ")
    assert (ids.str.len() == 12).all()
    flat = np.concatenate(ids.to_numpy())
    assert all(len(i) == 10 for i in flat[:100])
    assert set(flat.astype(int)) <= catalogue


def test_run_is_logged_and_registered_as_champion(trained) -> None:
    import mlflow

    settings, result = trained
    client = registry.client(settings)
    run = client.get_run(result.run_id)
    assert run.data.params["feature_service"] == "ranker_v1"
    assert run.data.params["lake_version"] == Lake(settings.paths.lake).current_version()
    assert run.data.metrics["ranker.map_at_12"] == pytest.approx(
        result.comparison.loc["ranker", "map@12"]
    )
    assert "popularity.map_at_12" in run.data.metrics
    paths = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    assert "evaluation/map_vs_baselines.png" in paths and "evaluation/importance.csv" in paths
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        assert str(registry.version_by_alias(settings, alias).version) == result.version
    assert isinstance(mlflow.get_tracking_uri(), str)


def test_pyfunc_turns_customers_into_ranked_articles(trained) -> None:
    import mlflow

    settings, result = trained
    model = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}@{registry.CHAMPION}")
    tx = Lake(settings.paths.lake).read(schema.TRANSACTIONS, [schema.CUSTOMER_ID]).to_pandas()
    asked = pd.DataFrame({"customer_id": [*tx[schema.CUSTOMER_ID].unique()[:5], 123456789]})
    got = model.predict(asked, params={"k": 12})
    assert got.groupby(schema.CUSTOMER_ID).size().tolist() == [12] * 6
    cold = got[got[schema.CUSTOMER_ID] == 123456789]
    assert set(cold[schema.SOURCE]) <= {"popular_age", "popular_fallback"}
    package = RecommenderPackage.load(registry.download_package(settings))
    assert package.meta["feature_service"] == "ranker_v1"
    assert package.ranker.features == result.ranker.features


def test_batch_ranks_active_customers_and_gives_dormant_ones_age_best_sellers(trained) -> None:
    settings, _ = trained
    lake = Lake(settings.paths.lake)
    package = RecommenderPackage.load(registry.download_package(settings))
    history = load_history(lake, package.cutoff)
    customers = np.unique(
        lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).to_pandas()[schema.CUSTOMER_ID]
    )
    reader = SnapshotFeatures(settings, package.cutoff)
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


def test_a_worse_model_is_registered_but_never_promoted(trained) -> None:
    settings, first = trained
    worse = tiny_settings(settings.home)
    worse = worse.model_copy(update={"train_weeks": 1, "active_weeks": 4})
    second = run_pipeline(worse, None, None, parse_sources(WORSE), progress=False)
    assert not second.decision.promote
    segments = second.segments
    assert segments.loc["all.served", "buyers"] == (
        segments.loc["active.ranker", "buyers"] + segments.loc["dormant.ranker", "buyers"]
    )
    assert segments.loc["all.ranker", "map@12"] == pytest.approx(
        second.comparison.loc["ranker", "map@12"]
    )
    assert second.decision.champion_map == pytest.approx(first.comparison.loc["ranker", "map@12"])
    assert str(registry.version_by_alias(settings, registry.CHAMPION).version) == first.version
    assert str(registry.version_by_alias(settings, registry.CHALLENGER).version) == second.version
    assert not registry.promotion_decision(settings, second.version).promote


def test_bad_input_stops_before_anything_is_written(trained, raw_copy: Path) -> None:
    settings, first = trained
    lines = (raw_copy / "transactions_train.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 2)[0] + ",-0.5,2"  # negative price
    (raw_copy / "transactions_train.csv").write_text("\n".join(lines) + "\n")
    version = Lake(settings.paths.lake).current_version()
    out = settings.home.parent / "bad_submission.csv"
    with pytest.raises(ValidationFailed) as info:
        run_pipeline(settings, raw_copy, out, parse_sources(SOURCES), progress=False)
    assert "price" in info.value.report.describe_failures()
    assert not out.exists()
    assert Lake(settings.paths.lake).current_version() == version
    assert str(registry.version_by_alias(settings, registry.CHAMPION).version) == first.version
