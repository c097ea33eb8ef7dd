"""`hm generate | ingest | validate | lake | run`: the data layer's commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from recsys.commands import console, err, friendly_errors, writing
from recsys.settings import Settings


def _raw_or_fail(settings: Settings, raw: Path | None) -> Path:
    """The raw folder from --raw or HM_RAW; a clear error if neither is given."""
    raw = raw or settings.raw
    if raw is None:
        err.print("[bold red]error:[/] no raw data: pass --raw DIR or set HM_RAW")
        raise typer.Exit(2)
    return raw


def run_generate(
    settings: Settings, scale: str, seed: int | None, out: Path | None, progress: bool
) -> Path:
    """Generate a synthetic world and print where it went."""
    from recsys.data.synthetic import SCALES, generate_world

    if scale not in SCALES:
        err.print(f"[bold red]error:[/] unknown scale {scale!r}; choose from {sorted(SCALES)}")
        raise typer.Exit(2)
    out = out or settings.paths.worlds / scale
    world = generate_world(scale, seed if seed is not None else settings.seed, out, progress)
    console.print(
        f"generated the [bold]{scale}[/] world in {world.seconds:.1f}s -> {world.out_dir}\n"
        f"  {world.n_articles:,} articles, {world.n_customers:,} customers, "
        f"{world.n_transactions:,} transactions, {world.first_date} .. {world.last_date}"
    )
    return out


def run_ingest(settings: Settings, raw: Path | None, force: bool, progress: bool) -> None:
    """Ingest the raw folder into a new lake version and print a summary."""
    from recsys.data.ingest import ingest

    raw = _raw_or_fail(settings, raw)
    with friendly_errors(), writing(settings):
        result = ingest(raw, settings, progress=progress, force=force)
    if result.skipped:
        console.print(
            f"the lake already holds these files (version {result.version}); nothing to do "
            "(use --force to re-ingest)"
        )
        return
    _print_rows(result.rows, f"ingested {raw} in {result.seconds:.1f}s -> version {result.version}")
    laps = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(
        f"  {result.weeks} weeks, {result.first_date} .. {result.last_date} ({laps})\n"
        f"  {result.mode} ingest: {result.reason}\n"
        f"  validation passed; Data Docs: {result.report.docs_path}",
        soft_wrap=True,
        markup=False,
    )


def run_validate(settings: Settings, raw: Path | None, progress: bool) -> None:
    """Validate raw files (dry run) or the live lake version; exit 1 on failure."""
    from recsys.data.errors import ValidationFailed
    from recsys.data.ingest import ingest, validate_live

    raw = raw or settings.raw
    with friendly_errors(), writing(settings):
        if raw is not None:
            report = ingest(raw, settings, progress=progress, publish=False).report
        else:
            report = validate_live(settings)
            if not report.success:
                raise ValidationFailed(
                    report, "validation failed: the live lake version breaks expectations"
                )
    console.print(report.summary(), markup=False, soft_wrap=True)
    console.print(f"validation passed. JSON: {report.json_path}\nData Docs: {report.docs_path}")


def run_lake_status(settings: Settings) -> None:
    """Print the live version's manifest and the versions kept."""
    from recsys.data.lake import Lake

    lake = Lake(settings.paths.lake)
    with friendly_errors():
        manifest = lake.manifest()
    _print_rows(manifest["rows"], f"live version {manifest['version']} ({lake.current_dir()})")
    console.print(
        f"  {manifest['first_date']} .. {manifest['last_date']}, {len(lake.weeks())} weekly "
        f"partitions, from {manifest['raw_dir']}"
    )
    kept = sorted(p.name for p in lake.versions_dir.iterdir())
    console.print(f"  versions kept: {', '.join(kept)}")


def _print_rows(rows: dict[str, int], title: str) -> None:
    """A title line and a small table of row counts per table."""
    console.print(title, soft_wrap=True)
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in rows.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
