"""MLflow helpers: the tracking URI, experiments with an explicit artifact location, runs."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recsys.settings import Settings


def tracking_uri(settings: Settings) -> str:
    """``HM_MLFLOW_URI``, else a SQLite database under ``HOME/mlflow``."""
    if settings.mlflow_uri:
        return settings.mlflow_uri
    settings.paths.mlflow.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.paths.mlflow / 'mlflow.db'}"


def artifact_root(settings: Settings) -> Path:
    """Where the embedded default keeps run artifacts (never ``./mlruns``)."""
    return settings.paths.mlflow / "artifacts"


def experiment_id(settings: Settings, name: str) -> str:
    """The id of experiment ``name``, created with an explicit artifact location if missing."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\..*")
    warnings.filterwarnings("ignore", message=".*input example was not provided.*")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri(settings))
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None if settings.mlflow_uri else (artifact_root(settings) / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


@contextmanager
def mlflow_run(
    settings: Settings, experiment: str, run_name: str, tags: Mapping[str, str] | None = None
) -> Iterator[Any]:
    """An active MLflow run in ``experiment`` (ended, and marked failed on error, on exit)."""
    import mlflow

    exp = experiment_id(settings, experiment)
    with mlflow.start_run(experiment_id=exp, run_name=run_name, tags=dict(tags or {})) as run:
        yield run


def metric_key(text: str) -> str:
    """A name MLflow accepts for metrics (``recall@12`` -> ``recall_at_12``)."""
    return text.replace("@", "_at_").replace(" ", "_")


def log_json(obj: Any, artifact_file: str) -> None:
    """Log a JSON-able object as an artifact of the active run."""
    import mlflow

    mlflow.log_text(json.dumps(obj, indent=2, sort_keys=True, default=str), artifact_file)


def log_recall_table(table: Any, ks: Any, prefix: str = "retrieval") -> None:
    """Log a recall table (a row per source) as metrics, a CSV/markdown artifact and a plot."""
    import matplotlib.pyplot as plt
    import mlflow

    from recsys.evaluation.plots import recall_curves

    metrics = {
        metric_key(f"{source}.{col}"): float(value)
        for source, row in table.iterrows()
        for col, value in row.items()
        if value == value  # skip NaN
    }
    mlflow.log_metrics(metrics)
    mlflow.log_text(table.to_csv(), f"{prefix}/recall_table.csv")
    mlflow.log_text(table.to_markdown(floatfmt=".4f"), f"{prefix}/recall_table.md")
    fig = recall_curves(table, ks)
    mlflow.log_figure(fig, f"{prefix}/recall_curves.png")
    plt.close(fig)
