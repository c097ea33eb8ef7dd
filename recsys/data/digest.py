"""Content digests of a lake version, cut at a week: what a stage that reads no later week read.

A week arriving adds a partition and leaves the bytes of the earlier ones as they were (an
appended version hard-links them), so a digest up to an earlier week is unchanged and the work
keyed on it is reused; a corrected old week, or new article or customer tables, change it.
Files are hashed as raw files are (:mod:`recsys.data.fingerprint`), through a stat cache.
"""

from __future__ import annotations

import datetime as dt

from recsys import schema
from recsys.data.fingerprint import HashCache, combine
from recsys.data.lake import Lake


def lake_digest(lake: Lake, until: dt.date, hashes: HashCache | None = None) -> str:
    """A hash of the live version's articles and customers and of its transaction weeks ending
    on or before ``until`` (week keys are the Tuesday each week ends on); ``hashes``: the stat
    cache to hash the files through (default: one for this call only)."""
    hashes = hashes or HashCache(None)
    root = lake.current_dir()
    files = {f"{t}.parquet": root / f"{t}.parquet" for t in (schema.ARTICLES, schema.CUSTOMERS)}
    for week in lake.weeks():
        if week <= until.isoformat():
            folder = root / schema.TRANSACTIONS / f"{schema.WEEK}={week}"
            files.update({f"{folder.name}/{p.name}": p for p in folder.glob("*.parquet")})
    return combine({name: hashes.digest(path).hash for name, path in files.items()}, str(until))
