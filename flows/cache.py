"""Caching keyed on data fingerprints: a re-run after a crash resumes instead of recomputing.

A cached stage writes its outputs under ``$HM_HOME/runs/<stage>/<key>/`` and returns that path.
The key hashes the lake version (a content fingerprint of the raw files), the cutoff, the
settings that shape the stage and the package version. Prefect stores its cache records and
results under ``$HM_HOME/prefect/``; a stage whose output folder is missing or incomplete (no
``_SUCCESS``) is recomputed, and so is every stage of a run with ``cache=False``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from recsys import __version__
from recsys.settings import Settings

DONE = "_SUCCESS"
SHAPING = ("candidates", "train_customers", "valid_customers", "sampling", "negatives", "seed")


def fingerprint(settings: Settings, *parts: Any) -> str:
    """A short stable hash of the settings that shape a stage and ``parts``."""
    shaping = {name: getattr(settings, name) for name in SHAPING}
    text = json.dumps([__version__, str(settings.home), shaping, *parts], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def stage_dir(settings: Settings, stage: str, key: str) -> Path:
    """Where a cached stage with ``key`` keeps its outputs."""
    return settings.paths.runs / stage / key


def fresh(path: Path) -> Path:
    """An empty folder at ``path`` (a stage starts clean: no half-old, half-new outputs)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def mark_done(path: Path) -> Path:
    """Mark a stage folder complete (written last, so a crash leaves it incomplete)."""
    (path / DONE).touch()
    return path


def stage_key(_context: Any, parameters: dict[str, Any]) -> str:
    """A cached task's key: its ``key`` parameter (a :func:`fingerprint`)."""
    return str(parameters["key"])


def cached(task: Any, settings: Settings, out: Path, use_cache: bool = True) -> Any:
    """``task`` cached under ``$HM_HOME/prefect``; refreshed when ``out`` is not complete or
    ``use_cache`` is off."""
    from prefect.cache_policies import CacheKeyFnPolicy

    store = settings.paths.prefect
    policy = CacheKeyFnPolicy(cache_key_fn=stage_key).configure(key_storage=store / "cache")
    return task.with_options(
        cache_policy=policy,
        persist_result=True,
        result_storage=store / "results",
        refresh_cache=not use_cache or not (out / DONE).exists(),
    )
