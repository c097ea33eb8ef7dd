"""Fitted unions kept on disk, keyed on what the fit read.

A union fitted at cutoff C depends only on the history it was given (transactions before C, the
catalogue, the customers), its sources and the code it runs (:mod:`recsys.retrieval.code_digest`).
The key hashes exactly those, so next week's run, whose lake version differs only by rows dated
on or after C, reuses the union instead of refitting it; any change to those rows, the tables,
the sources or that code is a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from recsys.parallel import Parallel
from recsys.retrieval.code_digest import code_fingerprint
from recsys.retrieval.evaluate import fit_union
from recsys.retrieval.history import History
from recsys.retrieval.sources import SourceSpec
from recsys.retrieval.union import UnionRetriever

DONE = "_SUCCESS"
KEEP = 6  # unions kept: a run loads or fits 6 and the least recently used goes first
STALE_TMP_S = 6 * 3600  # a half-written union older than this is a crashed fit's: removed


def frame_digest(frame: pd.DataFrame) -> bytes:
    """A content hash of a frame: column names, dtypes and every value in row order."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.digest()


def history_fingerprint(history: History) -> str:
    """A content hash of everything a source may read from ``history`` (and its cutoff),
    computed once per history (the union's key and a two-tower's anchor key share it; ~4 s at
    full H&M scale)."""
    return history.shared("history_fingerprint", lambda: _history_digest(history))


def _history_digest(history: History) -> str:
    """:func:`history_fingerprint`, computed."""
    digest = hashlib.sha256(history.cutoff.isoformat().encode())
    for frame in (history.transactions, history.articles, history.customers):
        digest.update(frame_digest(frame))
    return digest.hexdigest()


def union_key(history: History, specs: Sequence[SourceSpec]) -> str:
    """The cache key of the union of ``specs`` fitted on ``history``."""
    parts = [code_fingerprint(), history_fingerprint(history), [s.as_dict() for s in specs]]
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def fit_or_load_union(
    history: History,
    specs: Sequence[SourceSpec],
    store: Path | None,
    progress: bool = False,
    workers: int | Parallel = 1,
) -> tuple[UnionRetriever, dict[str, float]]:
    """The union fitted on ``history``, loaded from ``store`` when it was fitted there before
    (then no fit times), else fitted (``workers`` processes) and saved there; no ``store``:
    just fitted."""
    from recsys.retrieval.registry import load_retriever

    if store is None:
        return fit_union(history, specs, progress, workers)
    path = Path(store) / union_key(history, specs)
    if (path / DONE).exists():
        os.utime(path)  # recently used: pruned last
        return load_retriever(path / "union"), {}  # type: ignore[return-value]
    union, fit_s = fit_union(history, specs, progress, workers)
    keep(union, path)
    prune(Path(store), KEEP)
    return union, fit_s


def keep(union: UnionRetriever, path: Path) -> Path:
    """Save ``union`` under ``path`` whole or not at all (written aside, then renamed)."""
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:6]}"
    union.save(tmp / "union")
    (tmp / DONE).touch()
    shutil.rmtree(path, ignore_errors=True)  # an incomplete earlier attempt
    os.rename(tmp, path)
    return path


def prune(store: Path, n: int) -> list[Path]:
    """Delete all but the ``n`` most recently used unions and the temporary folders a crashed
    fit left (those older than :data:`STALE_TMP_S`: a younger one may be a fit still being
    saved, by a week built beside this one)."""
    unions = sorted(
        (p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".tmp-")),
        key=lambda p: p.stat().st_mtime,
    )
    stale = time.time() - STALE_TMP_S
    leftovers = [p for p in store.glob(".tmp-*") if p.stat().st_mtime < stale]
    doomed = unions[: max(0, len(unions) - n)] + leftovers
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed
