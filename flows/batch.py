"""Flow ``batch-recommend``: the champion's top 12 for every customer, in Kaggle's format."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from recsys.settings import get_settings


@task(name="recommend every customer")
def recommend_task(out: str | None) -> dict:
    """The champion package ranks every customer; the submission goes to ``out`` (or the home)."""
    from recsys import registry
    from recsys.data.lake import Lake
    from recsys.pipeline import predict_step
    from recsys.ranking.package import RecommenderPackage

    settings = get_settings()
    version = registry.version_by_alias(settings, registry.CHAMPION)
    if version is None:
        raise RuntimeError("no champion model is registered: run the training stages first")
    package = RecommenderPackage.load(registry.download_package(settings, registry.CHAMPION))
    target = Path(out) if out else settings.paths.root / "submissions" / f"{package.cutoff}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    predict_step(settings, Lake(settings.paths.lake), package, target, False)
    return {"champion": str(version.version), "cutoff": str(package.cutoff), "path": str(target)}


@flow(name="batch-recommend", log_prints=True)
def batch_recommend(out: str | None = None) -> dict:
    """Recommendations from the model behind alias ``champion``."""
    return recommend_task(out)
