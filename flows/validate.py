"""Flow ``validate-raw``: the three Kaggle files checked and published as the live lake version."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from recsys.settings import get_settings


@task(name="ingest and validate")
def ingest_raw(raw_dir: str | None) -> dict:
    """Validate ``raw_dir`` (if given) and publish it; the live version's facts either way.

    Raises :class:`~recsys.data.errors.ValidationFailed` (naming file, column and rows) before
    anything is published, so nothing downstream runs on bad data.
    """
    from recsys.pipeline import ingest_step

    settings = get_settings()
    lake = ingest_step(settings, Path(raw_dir) if raw_dir else None, progress=False)
    manifest = lake.manifest()
    return {
        "version": lake.current_version(),
        "rows": manifest.get("rows", {}),
        "last_date": manifest.get("last_date"),
        "validated": bool(manifest.get("validation", {}).get("success", False)),
    }


@flow(name="validate-raw", log_prints=True)
def validate_raw(raw_dir: str | None = None) -> dict:
    """Validate the raw files and publish them (a no-op when the lake already holds them)."""
    return ingest_raw(raw_dir)
