"""`hm`: the one command-line interface of the platform (thin wiring over ``recsys``)."""

from __future__ import annotations

import logging
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
    typer.Option("--raw", envvar="HM_RAW", help="Folder with the three Kaggle CSV files."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


@app.callback()
def main(
    ctx: typer.Context,
    home: HomeOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Load settings once for every command."""
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

    Without --raw/HM_RAW it generates the small synthetic world first; then ingests and validates.
    """
    from recsys.commands.data import run_main

    run_main(_settings(ctx), raw, progress=not quiet)


if __name__ == "__main__":
    app()
