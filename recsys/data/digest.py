"""Content digests of a lake version, cut at a week: what a stage that reads no later week read.

A week arriving adds a partition and leaves the bytes of the earlier ones as they were (an
appended version hard-links them), so a digest up to an earlier week is unchanged and the work
keyed on it is reused; a corrected old week, or new article or customer tables, change it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from functools import cache
from pathlib import Path

from recsys import schema
from recsys.data.lake import Lake

BLOCK = 1 << 22


@cache
def _file_digest(path: Path, identity: tuple[int, int, int, int]) -> bytes:
    """SHA-256 of a published (never rewritten) file; ``identity`` keys the memo."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.digest()


def file_digest(path: Path) -> bytes:
    """SHA-256 of ``path``'s bytes, computed once per file and process."""
    st = os.stat(path)
    return _file_digest(Path(path), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))


def lake_digest(lake: Lake, until: dt.date) -> str:
    """A hash of the live version's articles and customers and of its transaction weeks ending
    on or before ``until`` (week keys are the Tuesday each week ends on)."""
    root = lake.current_dir()
    digest = hashlib.sha256(until.isoformat().encode())
    for table in (schema.ARTICLES, schema.CUSTOMERS):
        digest.update(file_digest(root / f"{table}.parquet"))
    for week in lake.weeks():
        if week <= until.isoformat():
            folder = root / schema.TRANSACTIONS / f"{schema.WEEK}={week}"
            for part in sorted(folder.glob("*.parquet")):
                digest.update(f"{week}/{part.name}".encode())
                digest.update(file_digest(part))
    return digest.hexdigest()
