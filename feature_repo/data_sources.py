"""Offline sources: the weekly feature snapshots under the project home's ``features/`` folder."""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import ParquetFormat


def features_dir() -> Path:
    """Snapshot folder of the home named by ``HM_HOME`` (default ``./.hm``, like the settings)."""
    return Path(os.environ.get("HM_HOME", ".hm")).expanduser().resolve() / "features"


def snapshot_source(kind: str, root: Path) -> FileSource:
    """All weekly snapshots of one entity kind (``root/<kind>/YYYY-MM-DD.parquet``)."""
    return FileSource(
        name=f"{kind}_snapshots",
        path=str(root / kind),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        description=f"Weekly {kind} feature snapshots; event_timestamp = cutoff (UTC midnight).",
    )


customer_snapshots = snapshot_source("customer", features_dir())
article_snapshots = snapshot_source("article", features_dir())
