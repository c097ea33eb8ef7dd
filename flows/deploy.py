"""The weekly retraining deployment: ``weekly-retrain`` on a cron schedule after the week closes.

Two ways to run it: ``hm deploy`` (``flow.serve``: one long-lived process that schedules and
runs, no work pool needed) or ``prefect deploy --all`` with ``prefect.yaml`` and a process
worker. Both need a Prefect server (``prefect server start``, or the Postgres-backed one in
``infra/compose.yaml``) reachable at ``PREFECT_API_URL``.
"""

from __future__ import annotations

from typing import Any

CRON = "0 3 * * 3"  # Wednesdays 03:00: H&M weeks close on Tuesday
NAME = "weekly"
TIMEZONE = "UTC"


def weekly_deployment(
    name: str = NAME, cron: str = CRON, parameters: dict[str, Any] | None = None
) -> Any:
    """``weekly-retrain`` as a scheduled deployment (not yet applied to a server)."""
    from prefect.schedules import Cron

    from flows.weekly import weekly_retrain

    return weekly_retrain.to_deployment(
        name=name,
        schedule=Cron(cron, timezone=TIMEZONE),
        parameters=parameters or {},
        description="Retrain retrievers and ranker on the closed week, gate, publish, batch.",
        tags=["hm-recsys", "weekly"],
    )


def serve(name: str = NAME, cron: str = CRON, parameters: dict[str, Any] | None = None) -> None:
    """Register the deployment and run its schedule in this process (Ctrl-C stops)."""
    from prefect import serve as prefect_serve

    prefect_serve(weekly_deployment(name, cron, parameters))
