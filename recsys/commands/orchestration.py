"""`hm run`, `hm retrain` and `hm deploy`: the Prefect flows from the command line."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from rich.markdown import Markdown

from recsys.commands import console, friendly_errors
from recsys.settings import Settings


def _flow_env(settings: Settings) -> None:
    """Flows read their settings from HM_*: make them see this command's home."""
    os.environ["HM_HOME"] = str(settings.paths.root)


def run_retrain(
    settings: Settings,
    raw: Path | None,
    as_of: dt.date | None,
    sources: Path | None,
    out: Path | None,
) -> dict:
    """Run ``weekly-retrain`` once and print its report."""
    _flow_env(settings)
    from flows.weekly import weekly_retrain

    items = json.loads(sources.read_text()) if sources else None
    with friendly_errors():
        summary = weekly_retrain(
            raw_dir=str(raw) if raw else None,
            as_of=as_of,
            sources=items,
            out=str(out) if out else None,
        )
    console.print(Markdown(summary["report"]))
    return summary


def run_main(settings: Settings, raw: Path | None, progress: bool) -> None:
    """`make run`: the small synthetic world unless raw files are configured, then a retrain."""
    from recsys.commands.data import run_generate

    raw = raw or settings.raw
    if raw is None:
        raw = settings.paths.worlds / "small"
        if not (raw / "transactions_train.csv").exists():
            run_generate(settings, "small", settings.seed, raw, progress)
    run_retrain(settings, raw, None, None, None)
    home = settings.paths.root
    console.print(
        "\nnext:\n"
        f"  make ui                              # MLflow runs and the hm-ranker registry\n"
        f"  prefect server start                 # the Prefect UI (flow runs, report artifacts)\n"
        f"  HM_HOME={home} hm serve      # the recommendation API on http://127.0.0.1:8000/docs\n"
        f"  HM_HOME={home} hm deploy     # schedule weekly-retrain (Wednesdays 03:00 UTC)\n"
        f"  HM_HOME={home} hm ingest --raw /path/to/kaggle   # your own files"
    )


def run_deploy(settings: Settings, name: str, cron: str) -> None:
    """Serve the weekly deployment from this process."""
    _flow_env(settings)
    from flows.deploy import serve

    console.print(f"serving deployment weekly-retrain/{name} on cron '{cron}' (Ctrl-C stops)")
    serve(name, cron)
