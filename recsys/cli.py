"""`hm`: the one command-line interface of the platform (thin wiring over ``recsys``)."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from recsys.settings import Settings, get_settings

app = typer.Typer(
    help="hm-recsys: H&M fashion recommendations on Feast, MLflow, Prefect and LightGBM.\n\n"
    "State lives under one project home (--home or HM_HOME, default ./.hm).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="HM_HOME", help="Project home (all state). Default ./.hm"),
]
RawOpt = Annotated[
    Path | None,
    typer.Option(
        "--raw",
        envvar="HM_RAW",
        help="Raw folder: articles.csv, customers.csv, transactions_train.csv and/or "
        "transactions/YYYY-MM-DD.csv week files.",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


@app.callback()
def main(
    ctx: typer.Context,
    home: HomeOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Load settings once for every command."""
    for switch in ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK"):  # offline: no telemetry
        os.environ.setdefault(switch, "false" if switch.startswith("PREFECT") else "1")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    ctx.obj = get_settings(home=home)


def _settings(ctx: typer.Context) -> Settings:
    """The settings loaded by the callback."""
    return ctx.obj


@app.command()
def generate(
    ctx: typer.Context,
    scale: Annotated[str, typer.Option(help="tiny | small | medium | full (H&M size)")] = "small",
    seed: Annotated[int | None, typer.Option(help="Random seed (default HM_SEED=42).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder. Default HOME/worlds/SCALE")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Write a synthetic H&M world (articles.csv, customers.csv, transactions_train.csv)."""
    from recsys.commands.data import run_generate

    run_generate(_settings(ctx), scale, seed, out, progress=not quiet)


@app.command()
def ingest(
    ctx: typer.Context,
    raw: RawOpt = None,
    force: Annotated[bool, typer.Option(help="Re-ingest even if these files are live.")] = False,
    quiet: Quiet = False,
) -> None:
    """Validate the raw CSVs and publish them as typed, week-partitioned Parquet in the lake."""
    from recsys.commands.data import run_ingest

    run_ingest(_settings(ctx), raw, force=force, progress=not quiet)


@app.command()
def validate(ctx: typer.Context, raw: RawOpt = None, quiet: Quiet = False) -> None:
    """Run the Great Expectations suites (on --raw files, else on the live lake version).

    Prints a pass/fail summary, writes a JSON result and Data Docs HTML; exit code 1 on failure.
    Validating --raw files writes nothing to the lake.
    """
    from recsys.commands.data import run_validate

    run_validate(_settings(ctx), raw, progress=not quiet)


@app.command()
def lake(ctx: typer.Context) -> None:
    """Show the live lake version, its tables and the versions kept."""
    from recsys.commands.data import run_lake_status

    run_lake_status(_settings(ctx))


@app.command()
def run(ctx: typer.Context, raw: RawOpt = None, quiet: Quiet = False) -> None:
    """The main job on embedded defaults (what `make run` calls).

    Without --raw/HM_RAW it generates the small synthetic world first; then runs the
    `weekly-retrain` Prefect flow end to end (validate, features, retrievers, ranker, gate,
    publish for serving, batch) and prints its summary. `hm serve` works right after.
    """
    from recsys.commands.orchestration import run_main

    run_main(_settings(ctx), raw, progress=not quiet)


@app.command()
def retrain(
    ctx: typer.Context,
    raw: RawOpt = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Replay the week as of this date."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON list of sources: [{kind, quota, name, ...}].")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Submission CSV (default HOME/submissions/CUTOFF.csv).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the run's summary to this JSON file.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Run the `weekly-retrain` flow once: ingest what arrived in --raw, retrain, gate, publish.

    Stages are cached: a re-run after a crash resumes, and a re-run on the same data does no
    work. The raw folder holds the three Kaggle files (replaced each week), or the history plus
    one file per new week (see README, "The weekly loop").
    """
    from recsys.commands.orchestration import run_retrain

    day = as_of.date() if as_of else None
    run_retrain(_settings(ctx), raw, day, config, out, progress=not quiet, json_out=json_out)


@app.command()
def deploy(
    ctx: typer.Context,
    raw: RawOpt = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON list of sources: [{kind, quota, name, ...}].")
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name.")] = "weekly",
    cron: Annotated[str, typer.Option(help="Schedule (UTC).")] = "0 3 * * 3",
) -> None:
    """Schedule `weekly-retrain` (Wednesdays 03:00 UTC) and run it from this process.

    Every run ingests what is in --raw (HM_RAW) at that time: drop the new week there (or
    replace the Kaggle files), and the next run appends it, retrains, gates and publishes.
    Needs a Prefect server: `prefect server start` (UI on http://127.0.0.1:4200) and
    PREFECT_API_URL=http://127.0.0.1:4200/api. `prefect deploy --all` is the work-pool route.
    """
    from recsys.commands.orchestration import run_deploy

    run_deploy(_settings(ctx), raw, config, name, cron)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (each loads the model).")] = 1,
) -> None:
    """Serve recommendations over HTTP: the MLflow champion ranking Feast online features.

    Loads only what the weekly loop published (champion, its candidates, online features, the
    answers ranked ahead); run `hm run` or `hm retrain` first. Endpoints: GET
    /recommendations/{customer_id}, POST /recommendations (cart, viewing), GET
    /articles/{id}/similar, GET /health; the OpenAPI page is /docs. A new champion or a new
    materialization is picked up live (HM_SERVE_REFRESH_S). A plain GET answers from the lists
    the loop ranked ahead (HM_SERVE_PRECOMPUTE); requests with context rank per request.
    """
    from recsys.commands.serving import run_serve

    run_serve(_settings(ctx), host, port, workers)


features_app = typer.Typer(
    help="Windowed customer/article features: weekly snapshots (offline store) and Feast.",
    no_args_is_help=True,
)
app.add_typer(features_app, name="features")


@features_app.command("build")
def features_build(
    ctx: typer.Context,
    weeks: Annotated[
        int | None, typer.Option(help="Cutoffs to build (default HM_FEATURE_WEEKS).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild snapshots that are up to date.")] = False,
    quiet: Quiet = False,
) -> None:
    """Compute weekly feature snapshots for the last N cutoffs (Wednesdays) from the lake."""
    from recsys.commands.features import run_build

    settings = _settings(ctx)
    run_build(settings, weeks or settings.feature_weeks, force, progress=not quiet)


@features_app.command("apply")
def features_apply(ctx: typer.Context) -> None:
    """Register entities, feature views and services in the Feast registry (`feast apply`)."""
    from recsys.commands.features import run_apply

    run_apply(_settings(ctx))


@features_app.command("materialize")
def features_materialize(
    ctx: typer.Context,
    cutoff: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Default: the newest snapshot.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Load a snapshot into the online store (SQLite, or Redis with HM_ONLINE_STORE=redis)."""
    from recsys.commands.features import run_materialize

    run_materialize(_settings(ctx), cutoff.date() if cutoff else None, progress=not quiet)


@features_app.command("show")
def features_show(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="Customer id: 64-hex (Kaggle) or int64 key.")],
    article: Annotated[list[int] | None, typer.Option(help="Candidate article ids.")] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="Features to print.")] = 20,
) -> None:
    """Online features of a customer next to the offline snapshot's values."""
    from recsys.commands.features import run_show

    run_show(_settings(ctx), customer, article or [], n)


@app.command()
def pipeline(
    ctx: typer.Context,
    raw_dir: Annotated[
        Path | None,
        typer.Option(
            "--raw",
            "--raw-dir",
            envvar="HM_RAW",
            help="Raw folder, as for `hm ingest` (default: the lake's live version).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Submission CSV to write.")] = Path(
        "submission.csv"
    ),
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only these sources (repeatable).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="JSON list of sources.")] = None,
    binary: Annotated[bool, typer.Option(help="Also train the binary-classifier variant.")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the run's summary to this JSON file.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """The weekly loop from scratch, with a Kaggle submission from the model it trains.

    The same `weekly-retrain` flow as `hm retrain`, without its cache, writing the submission
    from this run's new model even when the gate keeps the champion: validate -> ingest ->
    features -> retrieval -> LambdaRank (HM_TRAIN_WEEKS weeks) -> MAP@12 vs baselines on the
    last complete week -> MLflow registry and gate -> publish for serving -> 12 articles for
    every customer of customers.csv for the week after the data.
    """
    from recsys.commands.orchestration import run_pipeline
    from recsys.commands.retrieval import select_sources

    specs = select_sources(source, config)
    items = [s.as_dict() for s in specs]
    run_pipeline(_settings(ctx), raw_dir, out, items, binary, not quiet, json_out)


@app.command()
def promote(
    ctx: typer.Context,
    version: Annotated[
        str | None, typer.Option(help="Model version (default: the challenger).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even if it does not win the gate.")] = False,
) -> None:
    """Make the challenger (or --version) champion if it beat the champion's MAP@12 on the same
    evaluation week (exit 1 otherwise); its candidates and answers are published first."""
    from recsys.commands.promote import run_promote

    run_promote(_settings(ctx), version, force)


retrieval_app = typer.Typer(
    help="Candidate sources (repurchase, popularity, co-occurrence, content, two-tower, ...) "
    "and their union: recall on a held-out week, fitted artifacts, similar items.",
    no_args_is_help=True,
)
app.add_typer(retrieval_app, name="retrieval")
CutoffOpt = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Cutoff (a Wednesday).")
]
SourcesOpt = Annotated[
    list[str] | None,
    typer.Option("--source", "-s", help="Only these sources (repeatable; default: all)."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option(help="JSON list of sources: [{kind, quota, name, ...params}].")
]


@retrieval_app.command("eval")
def retrieval_eval(
    ctx: typer.Context,
    cutoff: CutoffOpt = None,
    source: SourcesOpt = None,
    config: ConfigOpt = None,
    k: Annotated[
        list[int] | None, typer.Option("--k", help="Cut-offs (default 12 50 100 200).")
    ] = None,
    mlflow: Annotated[bool, typer.Option(help="Log the run to MLflow (hm-retrieval).")] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the table to this JSON file.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Recall@K and coverage of each source and of the union on a held-out week.

    Sources are fitted on everything before the cutoff (default: the start of the last complete
    week) and judged on the purchases of the week from it.
    """
    from recsys.commands.retrieval import run_eval, select_sources

    ks = tuple(sorted(k)) if k else (12, 50, 100, 200)
    specs = select_sources(source, config)
    run_eval(
        _settings(ctx), cutoff.date() if cutoff else None, specs, ks, mlflow, not quiet, json_out
    )


@retrieval_app.command("fit")
def retrieval_fit(
    ctx: typer.Context,
    cutoff: CutoffOpt = None,
    source: SourcesOpt = None,
    config: ConfigOpt = None,
    quiet: Quiet = False,
) -> None:
    """Fit the union of sources (default: on all data, to serve the week after it) and save it."""
    from recsys.commands.retrieval import run_fit, select_sources

    specs = select_sources(source, config)
    run_fit(_settings(ctx), cutoff.date() if cutoff else None, specs, not quiet)


@retrieval_app.command("similar")
def retrieval_similar(
    ctx: typer.Context,
    article: Annotated[int, typer.Argument(help="Article id (e.g. 108775015).")],
    k: Annotated[int, typer.Option("--k", help="How many.")] = 12,
) -> None:
    """Articles similar to ARTICLE (a product page's "similar items"), from `hm retrieval fit`."""
    from recsys.commands.retrieval import run_similar

    run_similar(_settings(ctx), article, k)


if __name__ == "__main__":
    app()
