"""`hm pipeline` and `hm promote`: the one-shot offline loop and the champion alias."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from recsys.commands import console, err, friendly_errors
from recsys.settings import Settings


def comparison_rich_table(table) -> Table:
    """MAP@12 and friends of the ranker, baselines and sources."""
    out = Table(title="validation week: ranker vs baselines and single sources")
    out.add_column("model")
    for col in table.columns:
        out.add_column(col, justify="right")
    for name, row in table.iterrows():
        style = "bold green" if name == "ranker" else None
        out.add_row(str(name), *(f"{v:.4f}" for v in row.to_numpy()), style=style)
    return out


def run_pipeline_cmd(
    settings: Settings,
    raw: Path | None,
    out: Path | None,
    specs: list,
    binary: bool,
    track: bool,
    progress: bool,
    json_out: Path | None = None,
) -> None:
    """Run the pipeline and print what it measured and wrote."""
    from recsys.pipeline import run_pipeline

    with friendly_errors():
        result = run_pipeline(settings, raw, out, specs, progress, binary, track)
    console.print(comparison_rich_table(result.comparison))
    if result.binary is not None:
        console.print(f"binary classifier variant: MAP@12 {result.binary['map@12'].iloc[0]:.4f}")
    if result.segments is not None:
        maps = result.segments["map@12"]
        console.print(
            f"active vs dormant buyers ({settings.active_weeks} weeks): served MAP@12 "
            f"{maps['all.served']:.4f} vs {maps['all.ranker']:.4f} if everyone were ranked; "
            f"dormant: ranker {maps['dormant.ranker']:.4f}, best sellers "
            f"{maps['dormant.best_sellers']:.4f}"
        )
    ranker = result.comparison.loc["ranker", "map@12"]
    base = result.comparison.loc["repurchase_popularity", "map@12"]
    widest = max((k for k in result.recall if k.startswith("recall@")), key=lambda k: int(k[7:]))
    console.print(
        f"ranker MAP@12 {ranker:.4f} = {ranker / base:.2f}x repurchase-then-popularity "
        f"({base:.4f}); candidate {widest} {result.recall[widest]:.4f} "
        f"({result.recall['candidates_per_buyer']:.0f} candidates per buyer)"
    )
    _print_outcome(result)
    if json_out:
        write_json(result, settings, json_out)


def write_json(result, settings: Settings, path: Path) -> None:
    """The comparison, candidate recall, plan and timings as JSON (rendered by `make bench`)."""
    import json

    table = result.comparison
    if result.binary is not None:
        table = pd.concat([table, result.binary.rename(index={"ranker": "ranker (binary)"})])
    payload = {
        "valid_cutoff": str(result.plan.valid),
        "train_cutoffs": [str(c) for c in result.plan.train],
        "candidates": settings.candidates,
        "recall": result.recall,
        "timings": result.timings,
        "peak_gib": result.peaks,
        "segments": None
        if result.segments is None
        else result.segments.reset_index(names="segment").to_dict(orient="records"),
        "settings": _settings_used(settings),
        "table": table.reset_index(names="model").to_dict(orient="records"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


def _settings_used(settings: Settings) -> dict:
    """The settings that shape a pipeline run (recorded next to its figures)."""
    names = (
        "candidates",
        "train_weeks",
        "train_customers",
        "sampling",
        "negatives",
        "valid_customers",
        "batch_customers",
        "active_weeks",
        "threads",
    )
    return {n: getattr(settings, n) for n in names}


def _print_outcome(result) -> None:
    """Where the submission went, the registered version and the promotion decision."""
    plan = result.plan
    console.print(
        f"weeks: train {[str(c) for c in plan.train]}, validate {plan.valid}, "
        f"predict {plan.predict}"
    )
    if result.submission:
        console.print(f"submission: {result.submission}")
    if result.version:
        verdict = "promoted to champion" if result.decision.promote else "kept as challenger"
        console.print(
            f"hm-ranker version {result.version} {verdict}: {result.decision.reason} "
            f"(MLflow run {result.run_id})"
        )
    console.print("timings (s): " + ", ".join(f"{k} {v}" for k, v in result.timings.items()))
    console.print("peak memory (GiB): " + ", ".join(f"{k} {v}" for k, v in result.peaks.items()))


def run_promote(settings: Settings, version: str | None, force: bool) -> None:
    """Move ``champion`` to the challenger (or ``version``) if it beats the champion."""
    from recsys import registry

    with friendly_errors():
        target = version or getattr(
            registry.version_by_alias(settings, "challenger"), "version", None
        )
        if target is None:
            err.print("[bold red]error:[/] no challenger: run `hm pipeline` first")
            raise typer.Exit(1)
        decision = registry.promotion_decision(settings, str(target))
    if decision.promote or force:
        registry.set_alias(settings, registry.CHAMPION, str(target))
        console.print(
            f"hm-ranker version {target} is champion ({decision.reason}"
            f"{'; forced' if force and not decision.promote else ''})"
        )
        return
    err.print(f"not promoted: {decision.reason} (use --force to override)")
    raise typer.Exit(1)
