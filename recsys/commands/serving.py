"""`hm serve`: the HTTP API (uvicorn) over the online recommender."""

from __future__ import annotations

import os

from recsys.commands import _fail, console
from recsys.settings import Settings


def run_serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Start uvicorn on ``serving.api:create_server`` (HM_HOME passed on to the workers)."""
    import uvicorn

    from recsys import registry

    if registry.version_by_alias(settings, registry.CHAMPION) is None:
        raise _fail(
            f"no model has alias 'champion' in {settings.paths.root}",
            "train one first: `hm run` (or `hm retrain` / `hm pipeline`).",
        )
    os.environ["HM_HOME"] = str(settings.paths.root)
    console.print(f"serving on http://{host}:{port} (OpenAPI page: http://{host}:{port}/docs)")
    uvicorn.run(
        "serving.api:create_server",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
