"""The MLflow model registry face of the recommender: versions, aliases, promotion.

The registered model ``hm-ranker`` is one pyfunc (:mod:`recsys.ranking.mlflow_model`, logged
from code): a customer id in, ranked articles out. It carries the fitted union and the ranker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow

from recsys.ranking.baselines import BASELINE
from recsys.settings import Settings

MODEL_NAME = "hm-ranker"
CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_CODE = Path(__file__).resolve().parent / "ranking" / "mlflow_model.py"
PIP_REQUIREMENTS = ["lightgbm==4.7.0", "pandas==2.3.3", "pyarrow==25.0.1", "faiss-cpu==1.15.1"]


def signature():
    """Input: ``customer_id``; output: ranked rows; parameter ``k``."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("long", "customer_id")])
    outputs = Schema(
        [
            ColSpec("long", "customer_id"),
            ColSpec("integer", "article_id"),
            ColSpec("float", "score"),
            ColSpec("long", "rank"),
            ColSpec("string", "source"),
        ]
    )
    return ModelSignature(inputs, outputs, ParamSchema([ParamSpec("k", "long", 12)]))


def log_recommender(package_dir: Path, settings: Settings) -> tuple[str, str]:
    """Log the package as a pyfunc in the active run and register it; (model uri, version)."""
    info = mlflow.pyfunc.log_model(
        name="recommender",
        python_model=str(MODEL_CODE),
        artifacts={"package": str(package_dir)},
        signature=signature(),
        pip_requirements=PIP_REQUIREMENTS,
        model_config={"home": str(settings.paths.root)},
        registered_model_name=MODEL_NAME,
    )
    return info.model_uri, str(info.registered_model_version)


def client(settings: Settings) -> mlflow.MlflowClient:
    """A client of the settings' tracking server (registry included)."""
    from recsys.tracking import tracking_uri

    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def version_by_alias(settings: Settings, alias: str):
    """The model version behind ``alias``, or None."""
    try:
        return client(settings).get_model_version_by_alias(MODEL_NAME, alias)
    except mlflow.exceptions.MlflowException:
        return None


def set_alias(settings: Settings, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` of ``hm-ranker``."""
    client(settings).set_registered_model_alias(MODEL_NAME, alias, version)


def download_package(settings: Settings, alias: str = CHAMPION, version: str | None = None) -> Path:
    """The package folder of ``version``, else of the version behind ``alias``.

    Fetched from the artifact store once per logged model into ``HOME/mlflow/packages/``
    (a version's artifacts never change), then read from there: hard links when the artifact
    store is a folder on the same disk (the embedded setup), else MLflow's download.
    """
    import shutil
    import tempfile

    from mlflow.artifacts import download_artifacts

    c = client(settings)
    found = (
        c.get_model_version(MODEL_NAME, version)
        if version
        else c.get_model_version_by_alias(MODEL_NAME, alias)
    )
    folder = settings.paths.mlflow / "packages" / found.run_id
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder.parent))
        uri = f"models:/{MODEL_NAME}/{found.version}"
        if not linked(uri, tmp):
            download_artifacts(uri, dst_path=str(tmp))
        try:
            tmp.rename(folder)
        except OSError:  # another process put it in place first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / "artifacts" / "package"


def linked(uri: str, dst: Path) -> bool:
    """Hard-link the artifacts behind model ``uri`` into the empty folder ``dst`` when they are
    files on its disk: a package is GBs at full H&M scale, and a link costs neither a copy nor
    space (artifacts are never rewritten). False, ``dst`` left empty, when they are elsewhere
    (an MLflow server, another disk)."""
    import os
    import shutil
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    where = urlparse(ModelsArtifactRepository.get_underlying_uri(uri))
    source = Path(url2pathname(where.path))
    if where.scheme not in ("", "file") or not source.is_dir():
        return False
    try:
        shutil.copytree(source, dst, copy_function=os.link, dirs_exist_ok=True)
    except (OSError, shutil.Error):  # another file system: no links across it
        shutil.rmtree(dst)
        dst.mkdir()
        return False
    return True


@dataclass(frozen=True)
class Decision:
    """Whether the challenger replaces the champion, and why."""

    promote: bool
    reason: str
    challenger_map: float
    champion_map: float | None
    baseline_map: float | None = None


def decide(
    challenger_map: float,
    champion_map: float | None,
    baseline_map: float | None = None,
    min_gain: float = 0.0,
) -> Decision:
    """Promote when the challenger's MAP@12 beats repurchase-then-popularity (``baseline_map``,
    first champion included) and the champion (if any) by ``min_gain``."""
    maps = (challenger_map, champion_map, baseline_map)
    if baseline_map is not None and not challenger_map > baseline_map:
        reason = (
            f"MAP@12 {challenger_map:.5f} does not beat the baseline {BASELINE} "
            f"{baseline_map:.5f} on the validation week"
        )
        return Decision(False, reason, *maps)
    if champion_map is None:
        return Decision(True, "no champion yet" + _over(baseline_map), *maps)
    if challenger_map > champion_map + min_gain:
        reason = f"MAP@12 {challenger_map:.5f} > champion {champion_map:.5f}"
        return Decision(True, reason + _over(baseline_map), *maps)
    reason = f"MAP@12 {challenger_map:.5f} does not beat champion {champion_map:.5f}"
    return Decision(False, reason, *maps)


def _over(baseline_map: float | None) -> str:
    """The baseline part of a positive decision's reason."""
    return "" if baseline_map is None else f" and {BASELINE} {baseline_map:.5f}"


def promotion_decision(settings: Settings, version: str) -> Decision:
    """The gate for ``version``, from the comparison its pipeline run made on its own week.

    The pipeline scores the champion of the moment on the challenger's validation week and logs
    both MAP@12 values (``gate.*``); if the champion has changed since, the numbers no longer
    compare like with like, and the answer is no.
    """
    c = client(settings)
    run = c.get_run(c.get_model_version(MODEL_NAME, version).run_id)
    metrics, tags = run.data.metrics, run.data.tags
    challenger = metrics.get("gate.challenger_map_at_12", metrics.get("ranker.map_at_12", 0.0))
    baseline = metrics.get("gate.baseline_map_at_12")
    champion = version_by_alias(settings, CHAMPION)
    if champion is None:
        return decide(challenger, None, baseline)
    if str(champion.version) == str(version):
        return Decision(False, f"version {version} is already champion", challenger, challenger)
    judged = tags.get("gate.champion_version")
    if judged != str(champion.version):
        reason = (
            f"version {version} was compared with champion {judged}, the champion is now "
            f"{champion.version}: re-run the pipeline to compare on the same week"
        )
        return Decision(False, reason, challenger, None)
    return decide(challenger, metrics["gate.champion_map_at_12"], baseline)
