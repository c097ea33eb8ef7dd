"""Recall evaluation of sources and their union, and the `hm retrieval` commands with MLflow."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys import schema
from recsys.cli import app
from recsys.retrieval.evaluate import evaluate_retrieval
from recsys.retrieval.history import History
from recsys.retrieval.registry import load_retriever
from recsys.retrieval.sources import parse_sources

SPECS = [
    {"kind": "repurchase", "quota": 20},
    {"kind": "popularity", "quota": 30, "name": "popular_age", "mode": "age_bucket"},
]
KS = (12, 50, 100)


@pytest.fixture(scope="module")
def evaluation(history: History, held_out: pd.DataFrame):
    return evaluate_retrieval(history, held_out, parse_sources(SPECS), KS, union_k=50)


def test_table_has_each_source_and_the_union(evaluation) -> None:
    table = evaluation.table
    assert list(table.index) == ["repurchase", "popular_age", "union"]
    for name, row in table.iterrows():
        recalls = [row[f"recall@{k}"] for k in KS]
        assert recalls == sorted(recalls), name  # recall grows with k
        assert 0.0 <= recalls[0] <= recalls[-1] <= 1.0
        assert row["fit_s"] >= 0 and row["retrieve_s"] >= 0
    assert table.loc["popular_age", "customer_coverage"] == 1.0


def test_union_beats_each_member_at_its_quota(evaluation, held_out) -> None:
    from recsys.evaluation.recall import recall_at_k

    buyers = np.unique(held_out[schema.CUSTOMER_ID])
    union_recall = evaluation.table.loc["union", "recall@50"]
    for spec in evaluation.union.config.sources:
        own = evaluation.union.members[spec.name].retrieve(buyers, spec.quota)
        assert union_recall >= recall_at_k(own, held_out, (spec.quota,))[f"recall@{spec.quota}"]


def hm(*args: str, home) -> object:
    return CliRunner().invoke(app, ["--home", str(home), *args], catch_exceptions=False)


def test_cli_eval_logs_to_mlflow_and_fit_saves_the_union(settings, tmp_path) -> None:
    import mlflow

    config = tmp_path / "sources.json"
    config.write_text(json.dumps(SPECS))
    done = hm(
        "retrieval",
        "eval",
        "--config",
        str(config),
        "--k",
        "12",
        "--k",
        "50",
        "-q",
        home=settings.home,
    )
    assert done.exit_code == 0, done.output
    assert "union" in done.output and "logged to MLflow run" in done.output
    run_id = done.output.split("logged to MLflow run ")[1].split()[0]
    mlflow.set_tracking_uri(f"sqlite:///{settings.paths.mlflow / 'mlflow.db'}")
    run = mlflow.get_run(run_id)
    assert run.data.metrics["union.recall_at_50"] >= run.data.metrics["repurchase.recall_at_12"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "retrieval")}
    assert {"retrieval/recall_table.csv", "retrieval/recall_curves.png"} <= artifacts
    assert not (settings.home.parent / "mlruns").exists()

    fitted = hm("retrieval", "fit", "--config", str(config), "-q", home=settings.home)
    assert fitted.exit_code == 0, fitted.output
    folder = next(settings.paths.retrieval.glob("*/union"))
    union = load_retriever(folder)
    assert union.source_names == ["repurchase", "popular_age"]
    assert len(union.retrieve([1, 2, 3], k=10)) == 30  # cold start: popularity answers


def test_cli_rejects_unknown_sources(settings) -> None:
    done = hm("retrieval", "eval", "-s", "nope", home=settings.home)
    assert done.exit_code == 2 and "unknown sources" in done.output
