"""`hm serve`: the HTTP API (uvicorn) over what the weekly loop published."""

from __future__ import annotations

import os

from recsys.commands import _fail, console
from recsys.settings import Settings


def run_serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Start uvicorn on ``serving.api:create_server``; one clear line if nothing is published.

    Worker processes build their settings from the ``HM_*`` environment, so this command's home
    is handed to them as ``HM_HOME``.
    """
    import uvicorn

    from serving.model import NotPublished, features_published, model_published

    try:
        model_published(settings)
        features_published(settings, None, None)
    except NotPublished as e:
        raise _fail(str(e)) from None
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
