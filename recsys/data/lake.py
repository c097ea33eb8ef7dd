"""The data lake: versioned, validated, typed Parquet under ``$HM_HOME/lake``.

Layout::

    lake/CURRENT                      the live version id (replaced atomically)
    lake/versions/<id>/manifest.json  rows, date range, identity, source files, ingest, validation
    lake/versions/<id>/articles.parquet
    lake/versions/<id>/customers.parquet
    lake/versions/<id>/transactions/week=YYYY-MM-DD/part-0.parquet   (week ends on Tuesday)

A new version is written into a staging folder and only published (renamed into ``versions/`` and
pointed to by ``CURRENT``) after validation passed, so readers always see the last good version.
A version appended to the previous one shares its unchanged files as hard links: a published
file is never written in place (a new version writes new files).

The manifest records ``fingerprint`` (the version's identity: content hashes of the raw files
and the non-default validation settings), ``validation_key`` (those settings), ``rows``,
``first_date``/``last_date`` (of the whole version), ``sources`` (per raw file, by its path in the
raw folder: ``hash``, ``size``, ``lines`` including the header and, for transactions files,
``weeks``: rows per week), ``ingest`` (``mode`` full or append, ``reason``, the rows ``parsed``
per file and from which line, the weeks written, rewritten and linked) and ``validation``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from recsys import schema

MANIFEST = "manifest.json"


class LakeEmptyError(RuntimeError):
    """No validated data has been published yet."""


def new_version_id() -> str:
    """A sortable, unique version id (UTC timestamp plus a short random suffix)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


class Lake:
    """Read and publish versions of the typed tables."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        """Folder holding every published version."""
        return self.root / "versions"

    def current_version(self) -> str | None:
        """Id of the live version, or None if nothing was published."""
        pointer = self.root / "CURRENT"
        return pointer.read_text().strip() if pointer.exists() else None

    def current_dir(self) -> Path:
        """Folder of the live version; raises :class:`LakeEmptyError` if there is none."""
        version = self.current_version()
        if version is None:
            raise LakeEmptyError(f"no data in the lake at {self.root}: run `hm ingest --raw DIR`")
        return self.versions_dir / version

    def manifest(self) -> dict:
        """The live version's manifest."""
        return json.loads((self.current_dir() / MANIFEST).read_text())

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging folder, removed on exit unless it was published."""
        path = self.root / f".staging-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def sweep(self) -> list[Path]:
        """Remove staging folders and pointer temp files left by a killed writer (call only with
        the home's writer lock held: no other write is under way)."""
        if not self.root.is_dir():
            return []
        stale = [*self.root.glob(".staging-*"), *self.root.glob(".CURRENT.*")]
        for path in stale:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return stale

    def publish(self, staging: Path, manifest: dict, keep: int = 3) -> str:
        """Move ``staging`` into ``versions/`` and make it live atomically; prune old versions."""
        version = manifest.setdefault("version", new_version_id())
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        os.rename(staging, self.versions_dir / version)
        tmp = self.root / f".CURRENT.{uuid.uuid4().hex[:6]}"
        tmp.write_text(version + "\n")
        os.replace(tmp, self.root / "CURRENT")
        self.prune(keep)
        return version

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the live one)."""
        live = self.current_version()
        versions = sorted(p.name for p in self.versions_dir.iterdir() if p.is_dir())
        doomed = [v for v in versions[: max(0, len(versions) - keep)] if v != live]
        for v in doomed:
            shutil.rmtree(self.versions_dir / v, ignore_errors=True)
        return doomed

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table of the live version (articles, customers or transactions)."""
        if table == schema.TRANSACTIONS:
            return self.transactions(columns=columns).to_table()
        return pq.read_table(self.current_dir() / f"{table}.parquet", columns=columns)

    def transactions_dataset(self) -> ds.Dataset:
        """The live transactions as a hive-partitioned (``week=``) Arrow dataset."""
        return ds.dataset(
            self.current_dir() / schema.TRANSACTIONS,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([(schema.WEEK, pa.string())]), flavor="hive"),
        )

    def transactions(self, columns: list[str] | None = None, weeks: list[str] | None = None):
        """A lazy scanner over the transactions, optionally limited to some ``week`` keys."""
        flt = ds.field(schema.WEEK).isin(weeks) if weeks is not None else None
        return self.transactions_dataset().scanner(columns=columns, filter=flt)

    def weeks(self) -> list[str]:
        """The week keys (Tuesday dates) present in the live version."""
        folder = self.current_dir() / schema.TRANSACTIONS
        return sorted(p.name.split("=", 1)[1] for p in folder.glob(f"{schema.WEEK}=*"))
