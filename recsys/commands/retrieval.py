"""`hm retrieval eval | fit | similar`: candidate sources, their recall, and fitted artifacts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from recsys.commands import console, err, friendly_errors
from recsys.settings import Settings


def select_sources(names: list[str] | None, config: Path | None) -> list:
    """Default sources (optionally a subset by name), or the specs of a JSON ``config`` file."""
    from recsys.retrieval.sources import DEFAULT_SOURCES, parse_sources

    specs = parse_sources(json.loads(config.read_text())) if config else list(DEFAULT_SOURCES)
    if names:
        unknown = sorted(set(names) - {s.name for s in specs})
        if unknown:
            err.print(
                f"[bold red]error:[/] unknown sources {unknown}; "
                f"choose from {[s.name for s in specs]}"
            )
            raise typer.Exit(2)
        specs = [s for s in specs if s.name in names]
    return specs


def recall_rich_table(table: pd.DataFrame, ks: tuple[int, ...]) -> Table:
    """The recall table for the terminal: recall@k per source, coverage, times."""
    out = Table(title="retrieval on the held-out week (recall = mean over buyers)")
    out.add_column("source")
    for k in ks:
        out.add_column(f"@{k}", justify="right")
    for col in ("cover", "fit s", "ret s"):
        out.add_column(col, justify="right")
    for name, row in table.iterrows():
        style = "bold" if name == "union" else None
        cells = [f"{row[f'recall@{k}']:.4f}" for k in ks]
        extra = [
            f"{row['customer_coverage']:.2f}",
            f"{row['fit_s']:.1f}",
            f"{row['retrieve_s']:.1f}",
        ]
        out.add_row(str(name), *cells, *extra, style=style)
    return out


def run_eval(
    settings: Settings,
    cutoff: dt.date | None,
    specs: list,
    ks: tuple[int, ...],
    track: bool,
    progress: bool,
    json_out: Path | None = None,
) -> None:
    """Fit every source before ``cutoff``, measure recall on the week from it, log to MLflow."""
    from recsys.data.lake import Lake
    from recsys.features.cutoffs import default_cutoffs
    from recsys.retrieval.evaluate import evaluate_retrieval
    from recsys.retrieval.history import load_history, target_week
    from recsys.retrieval.sources import with_home

    lake = Lake(settings.paths.lake)
    with friendly_errors():
        cutoff = cutoff or default_cutoffs(lake, 2)[0]
        history, truth = load_history(lake, cutoff), target_week(lake, cutoff)
    if truth.empty:
        err.print(f"[bold red]error:[/] no purchases in the week from {cutoff}: nothing to score")
        raise typer.Exit(1)
    specs = with_home(specs, settings)
    result = evaluate_retrieval(history, truth, specs, ks, settings.candidates, progress)
    console.print(recall_rich_table(result.table, ks))
    best, best_recall = result.best_single(max(ks))
    union_recall = result.table.loc["union", f"recall@{max(ks)}"]
    console.print(
        f"cutoff {cutoff}: {result.buyers:,} buyers; union recall@{settings.candidates} "
        f"{union_recall:.4f} vs best single source ({best}) recall@{max(ks)} {best_recall:.4f}"
    )
    if json_out:
        _write_json(json_out, cutoff, result, settings.candidates)
    if track:
        run_id = _log_eval(settings, cutoff, specs, result, lake.current_version())
        console.print(f"logged to MLflow run {run_id} (experiment hm-retrieval)")


def _write_json(path: Path, cutoff: dt.date, result, union_k: int) -> None:
    """The recall table and context as JSON (what `make bench` renders into the README)."""
    payload = {
        "cutoff": str(cutoff),
        "buyers": result.buyers,
        "union_k": union_k,
        "ks": list(result.ks),
        "table": result.table.reset_index(names="source").to_dict(orient="records"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


def _log_eval(settings: Settings, cutoff: dt.date, specs: list, result, version: str | None) -> str:
    """Log parameters, the recall table, plot and timings to the ``hm-retrieval`` experiment."""
    import mlflow

    from recsys.tracking import log_json, log_recall_table, mlflow_run

    with mlflow_run(settings, "hm-retrieval", f"eval {cutoff}") as run:
        mlflow.log_params(
            {
                "cutoff": str(cutoff),
                "lake_version": version,
                "buyers": result.buyers,
                "union_k": settings.candidates,
                "sources": ",".join(s.name for s in specs),
            }
        )
        log_json([s.as_dict() for s in specs], "retrieval/sources.json")
        log_recall_table(result.table, result.ks)
        return run.info.run_id


def run_fit(settings: Settings, cutoff: dt.date | None, specs: list, progress: bool) -> Path:
    """Fit the union on everything before ``cutoff`` (default: serve the week after the data)."""
    from recsys.data.lake import Lake
    from recsys.features.cutoffs import default_cutoffs
    from recsys.retrieval.evaluate import fit_union
    from recsys.retrieval.history import load_history
    from recsys.retrieval.sources import with_home

    lake = Lake(settings.paths.lake)
    with friendly_errors():
        cutoff = cutoff or default_cutoffs(lake, 1)[0]
        history = load_history(lake, cutoff)
    union, fit_s = fit_union(history, with_home(specs, settings), progress, settings.threads)
    out = union.save(settings.paths.retrieval / cutoff.isoformat() / "union")
    for name, seconds in fit_s.items():
        console.print(f"  {name:<14} fitted in {seconds:6.1f}s")
    console.print(f"retrievers for cutoff {cutoff} saved to {out}")
    return out


def run_similar(settings: Settings, article_id: int, k: int) -> None:
    """Articles similar to ``article_id`` from the newest fitted content source."""
    from recsys.retrieval.registry import load_retriever

    folders = sorted(settings.paths.retrieval.glob("*/union/content"))
    if not folders:
        err.print("[bold red]error:[/] no fitted content source: run `hm retrieval fit`")
        raise typer.Exit(1)
    similar = load_retriever(folders[-1]).similar(article_id, k)
    if similar.empty:
        err.print(f"[bold red]error:[/] article {article_id} is not in the fitted catalogue")
        raise typer.Exit(1)
    console.print(similar.to_string(index=False))
