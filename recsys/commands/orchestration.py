"""`hm run`, `hm retrain`, `hm pipeline` and `hm deploy`: the weekly loop from the command line.

All of them run the one Prefect flow ``weekly-retrain`` (:mod:`flows.weekly`) with this command's
settings passed as a parameter, and print the run's summary.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markdown import Markdown

from recsys.commands import console, friendly_errors, quiet_user_tracebacks
from recsys.settings import Settings

if TYPE_CHECKING:
    from flows.options import RunOptions
    from flows.summary import RunSummary


def run_loop(
    settings: Settings,
    raw: Path | None,
    as_of: dt.date | None = None,
    sources: list[dict] | None = None,
    options: RunOptions | None = None,
) -> RunSummary:
    """Run ``weekly-retrain`` once and print its summary; returns the summary."""
    from flows.weekly import weekly_retrain

    quiet_user_tracebacks()
    with friendly_errors():
        summary = weekly_retrain(
            raw_dir=str(raw) if raw else None,
            as_of=as_of,
            sources=sources,
            options=options,
            settings=settings,
        )
    console.print(Markdown(summary.markdown()))
    return summary


def run_retrain(
    settings: Settings,
    raw: Path | None,
    as_of: dt.date | None,
    config: Path | None,
    out: Path | None,
    progress: bool,
    json_out: Path | None = None,
) -> RunSummary:
    """`hm retrain`: one cached run of the loop (a re-run resumes)."""
    from flows.options import RunOptions

    sources = json.loads(config.read_text()) if config else None
    summary = run_loop(settings, raw, as_of, sources, RunOptions(out=out, progress=progress))
    if json_out:
        write_summary(summary, json_out)
    return summary


def write_summary(summary: RunSummary, path: Path) -> Path:
    """The run's summary as JSON at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary.model_dump_json(indent=2))
    return path


def run_pipeline(
    settings: Settings,
    raw: Path | None,
    out: Path | None,
    sources: list[dict],
    binary: bool,
    progress: bool,
    json_out: Path | None = None,
) -> RunSummary:
    """`hm pipeline`: the loop without its cache, the submission from this run's new model."""
    from flows.options import RunOptions

    options = RunOptions(cache=False, submission="new", out=out, binary=binary, progress=progress)
    summary = run_loop(settings, raw, None, sources, options)
    if json_out:
        write_summary(summary, json_out)
    return summary


def run_main(settings: Settings, raw: Path | None, progress: bool) -> None:
    """`make run`: the small synthetic world unless raw files are configured, then a retrain."""
    from recsys.commands.data import run_generate

    raw = raw or settings.raw
    if raw is None:
        raw = settings.paths.worlds / "small"
        if not (raw / "transactions_train.csv").exists():
            run_generate(settings, "small", settings.seed, raw, progress)
    run_retrain(settings, raw, None, None, None, progress)
    home = settings.paths.root
    console.print(
        "\nnext:\n"
        f"  make ui                              # MLflow runs and the hm-ranker registry\n"
        f"  prefect server start                 # the Prefect UI (flow runs, report artifacts)\n"
        f"  HM_HOME={home} hm serve      # the recommendation API on http://127.0.0.1:8000/docs\n"
        f"  HM_HOME={home} hm deploy --raw {raw}   # schedule weekly-retrain (Wed 03:00 UTC)\n"
        f"  HM_HOME={home} hm retrain --raw /path/to/kaggle   # your own files"
    )


def run_deploy(
    settings: Settings, raw: Path | None, config: Path | None, name: str, cron: str
) -> None:
    """Serve the weekly deployment from this process."""
    from flows.deploy import deployment_parameters, serve

    sources = json.loads(config.read_text()) if config else None
    parameters = deployment_parameters(settings, raw, sources)
    folder = parameters["raw_dir"] or "nothing (the live lake is retrained as it is)"
    console.print(
        f"serving deployment weekly-retrain/{name} on cron '{cron}' (Ctrl-C stops); "
        f"each run ingests {folder}"
    )
    serve(parameters, name, cron)
