"""The one typed settings object of the platform (environment variables with the ``HM_`` prefix)."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recsys.home import ProjectHome


def today() -> dt.date:
    """Today's date: the one clock validation reads (tests patch it to move the date)."""
    return dt.date.today()


class Settings(BaseSettings):
    """Platform settings; every field can be set as ``HM_<FIELD>`` (e.g. ``HM_HOME=/data/hm``)."""

    model_config = SettingsConfigDict(env_prefix="HM_", extra="ignore")

    home: Path = Field(Path(".hm"), description="Project home: all state the platform writes.")
    raw: Path | None = Field(
        None, description="Raw folder (Kaggle CSVs; week files under transactions/)."
    )
    seed: int = Field(42, description="Default random seed.")
    price_min: float = Field(0.0, description="Prices must be strictly above this.")
    price_max: float = Field(1.0, description="Prices above this are rejected as absurd.")
    date_min: dt.date = Field(dt.date(2000, 1, 1), description="Earliest allowed transaction date.")
    date_max: dt.date | None = Field(None, description="Latest allowed date (default: today).")
    age_min: int = Field(14, description="Youngest allowed customer age.")
    age_max: int = Field(110, description="Oldest allowed customer age.")
    keep_versions: int = Field(3, description="Lake versions kept (the current one included).")
    csv_block_mb: int = Field(64, description="CSV block size read at a time, in MiB.")
    feature_weeks: int = Field(8, description="Weekly feature snapshots built by default.")
    busy: Literal["wait", "fail"] = Field(
        "wait",
        description="When another writer holds the home: wait for it, or exit 2 naming it.",
    )
    online_store: Literal["sqlite", "redis"] = Field("sqlite", description="Feast online store.")
    redis: str = Field("127.0.0.1:6379", description="Redis for Feast (host:port,db=N,...).")
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI (default: SQLite under HOME/mlflow)."
    )
    candidates: int = Field(200, description="Candidates per customer from the retrieval union.")
    train_weeks: int = Field(4, description="Weeks of candidates the ranker trains on.")
    min_history_weeks: int = Field(
        4, ge=0, description="Weeks of history the lake must hold before the first training week."
    )
    sampling: Literal["all", "random", "hard"] = Field(
        "random", description="Negative sampling of training candidates."
    )
    negatives: int = Field(50, description="Negatives kept per customer and week when sampling.")
    train_customers: int = Field(
        30_000, description="Most buyers per training week (a seeded sample; bounds memory)."
    )
    batch_customers: int = Field(
        2_000, ge=1, description="Customers ranked per batch chunk (one process each)."
    )
    active_weeks: int | None = Field(
        12,
        description="Batch ranks customers who bought in these last weeks; the rest get the "
        "age-bucket best sellers (`all` or None: rank everyone).",
    )
    valid_customers: int = Field(
        20_000, description="Most buyers the validation week is scored on (a seeded sample)."
    )
    threads: int = Field(2, description="Threads for LightGBM, PyTorch and FAISS.")
    dask: str | None = Field(
        None,
        description="Where customer chunks are ranked: unset = forked processes here; "
        "`local:N` = a Dask LocalCluster of N worker processes; `tcp://host:8786` = an "
        "existing Dask scheduler.",
    )
    dask_train_gib: float = Field(
        8.0,
        gt=0,
        description="With HM_DASK, the ranker trains on the cluster (lightgbm.dask) when its "
        "training matrix is larger than this many GiB; else in the stage's process.",
    )
    serve_refresh_s: float = Field(
        5.0, description="How often the server checks for a new champion or materialization."
    )
    on_sale_days: int | None = Field(
        56, description="The server shows articles sold in these last days only (unset: all)."
    )
    serve_precompute: bool = Field(
        True,
        description="The loop ranks every customer's context-free list when it publishes a "
        "state, and GET /recommendations answers from it; requests with context rank in real time.",
    )

    @field_validator("active_weeks", mode="before")
    @classmethod
    def _everyone(cls, value: object) -> object:
        """``all`` (or ``none``, or empty) as None: the batch ranks every customer."""
        if isinstance(value, str) and value.strip().lower() in ("", "all", "none"):
            return None
        return value

    @field_validator("dask", mode="before")
    @classmethod
    def _cluster(cls, value: object) -> object:
        """Unset, ``local:N`` (N >= 1) or a scheduler address (``tcp://``, ``tls://``...)."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        if text.startswith("local:"):
            n = text.removeprefix("local:")
            if not n.isdigit() or int(n) < 1:
                raise ValueError(f"HM_DASK={text!r}: expected local:N with N >= 1 workers")
        elif "://" not in text:
            raise ValueError(
                f"HM_DASK={text!r}: expected local:N or a scheduler address like tcp://host:8786"
            )
        return text

    @cached_property
    def paths(self) -> ProjectHome:
        """The project home's layout."""
        return ProjectHome(self.home)

    @property
    def latest_date(self) -> dt.date:
        """Latest allowed transaction date: ``date_max`` or today."""
        return self.date_max or today()


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit ``overrides`` (None values are ignored)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
