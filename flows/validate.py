"""Flow ``validate-raw``: the raw files validated and published as the live lake version."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from flows.summary import DataFacts
from recsys.settings import Settings


@task(name="ingest and validate")
def ingest_task(settings: Settings, raw_dir: str | None, progress: bool) -> DataFacts:
    """Validate ``raw_dir`` (if given) and publish it; the live version's facts either way.

    Raises :class:`~recsys.data.errors.ValidationFailed` (naming file, column and rows) before
    anything is published, so nothing downstream runs on bad data.
    """
    from recsys.data.ingest import ingest
    from recsys.data.lake import Lake, LakeEmptyError

    result = ingest(Path(raw_dir), settings, progress=progress) if raw_dir else None
    lake = Lake(settings.paths.lake)
    if lake.current_version() is None:
        raise LakeEmptyError(
            f"the lake at {lake.root} is empty: give the raw folder (--raw DIR or HM_RAW)"
        )
    manifest = lake.manifest()
    return DataFacts(
        version=str(lake.current_version()),
        ingested=result is not None and not result.skipped,
        rows=manifest.get("rows", {}),
        first_date=manifest.get("first_date"),
        last_date=manifest.get("last_date"),
        validated=bool(manifest.get("validation", {}).get("success", False)),
    )


@flow(name="validate-raw", log_prints=True, validate_parameters=False)
def validate_raw(
    settings: Settings, raw_dir: str | None = None, progress: bool = False
) -> DataFacts:
    """Validate the raw files and publish them (a no-op when the lake already holds them)."""
    return ingest_task(settings, raw_dir, progress)
