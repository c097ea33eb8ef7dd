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
    if settings.serve_precompute:
        _rank_ahead(settings)
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


def _rank_ahead(settings: Settings) -> None:
    """Rank every customer's context-free list now, with a progress bar; the workers load it."""
    from serving.answers import answers_root, ranked_ahead
    from serving.recommender import Recommender

    rec = Recommender(settings, on_sale_days=settings.on_sale_days, precompute=False)
    root = answers_root(settings)
    answers = ranked_ahead(rec.state, rec.watched, settings.threads, root, progress=True)
    console.print(f"{len(answers.customers):,} customers' lists ranked ahead ({root})")
