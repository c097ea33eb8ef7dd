"""The weekly deployment: ``weekly-retrain`` on a cron schedule after the week closes.

Each scheduled run ingests what is in the raw folder (the ``raw_dir`` parameter, else the
``HM_RAW`` of the settings): the week that arrived since the last run is appended to the lake,
the loop retrains, gates and publishes, and running servers swap to the new champion. Two ways
to run it: ``hm deploy --raw DIR`` (``flow.serve``: one long-lived process that schedules and
runs, no work pool needed) or ``prefect deploy --all`` with ``prefect.yaml`` and a process
worker. Both need a Prefect server (``prefect server start``, or the Postgres-backed one in
``infra/compose.yaml``) reachable at ``PREFECT_API_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recsys.settings import Settings

CRON = "0 3 * * 3"  # Wednesdays 03:00: H&M weeks close on Tuesday
NAME = "weekly"
TIMEZONE = "UTC"


def deployment_parameters(
    settings: Settings, raw: Path | None, sources: list[dict] | None = None
) -> dict[str, Any]:
    """The runs' parameters: the raw folder, the settings (home made absolute), the sources."""
    fixed = Settings.model_validate({**settings.model_dump(), "home": settings.paths.root})
    folder = raw or settings.raw
    return {
        "raw_dir": str(Path(folder).resolve()) if folder else None,
        "settings": fixed.model_dump(mode="json"),
        **({"sources": sources} if sources else {}),
    }


def weekly_deployment(parameters: dict[str, Any], name: str = NAME, cron: str = CRON) -> Any:
    """``weekly-retrain`` as a scheduled deployment (not yet applied to a server)."""
    from prefect.schedules import Cron

    from flows.weekly import weekly_retrain

    return weekly_retrain.to_deployment(
        name=name,
        schedule=Cron(cron, timezone=TIMEZONE),
        parameters=parameters,
        description="Ingest the week that arrived, retrain, gate, publish for serving, batch.",
        tags=["hm-recsys", "weekly"],
    )


def serve(parameters: dict[str, Any], name: str = NAME, cron: str = CRON) -> None:
    """Register the deployment and run its schedule in this process (Ctrl-C stops)."""
    from prefect import serve as prefect_serve

    prefect_serve(weekly_deployment(parameters, name, cron))
