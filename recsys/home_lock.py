"""One writer per project home: ingest, features, materialization and the weekly loop take turns.

A second writer either waits (``HM_BUSY=wait``, the default, saying whom it waits for) or stops
with :class:`HomeBusy` naming the running one: its pid, command and since when (``HM_BUSY=fail``).
The lock is an OS file lock (``filelock``), so a writer killed with ``kill -9`` releases it; the
next holder then removes what a killed writer left half-written (stale staging folders).
Holding it is re-entrant within a process (a flow run by a locked command does not deadlock).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from recsys.data.lake import Lake
from recsys.settings import Settings

log = logging.getLogger(__name__)
HOLDER = "writer.json"
_held: dict[Path, int] = {}
_guard = threading.Lock()


class HomeBusy(RuntimeError):
    """Another process is writing to the project home."""

    def __init__(self, home: Path, holder: dict | None) -> None:
        self.home, self.holder = home, holder or {}
        super().__init__(str(self))

    def __str__(self) -> str:
        h = self.holder
        who = "another process holds its lock"
        if h:
            who = f"pid {h.get('pid')} on {h.get('host')} runs `{h.get('command')}`"
            who += f" since {h.get('since')}"
        return f"the project home {self.home} is busy: {who}"


def holder(settings: Settings) -> dict | None:
    """Who holds the home's writer lock (pid, host, command, since), if anyone wrote it down."""
    path = settings.paths.writer_lock.with_name(HOLDER)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextmanager
def writer(
    settings: Settings,
    command: str | None = None,
    on_wait: Callable[[HomeBusy], None] | None = None,
) -> Iterator[None]:
    """Hold the home's writer lock for the block (waiting or failing per ``settings.busy``);
    ``on_wait`` tells the user whom a waiting writer waits for (default: a log warning)."""
    path = settings.paths.writer_lock
    with _guard:
        if _held.get(path):
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    lock = _acquire(settings, path, on_wait or _log_wait)
    try:
        with _guard:
            _held[path] = 1
        _write_holder(path, command)
        sweep(settings)
        yield
    finally:
        with _guard:
            _held.pop(path, None)
        path.with_name(HOLDER).unlink(missing_ok=True)
        lock.release()


def _log_wait(busy: HomeBusy) -> None:
    """Say whom a waiting writer waits for."""
    log.warning("%s; waiting for it to finish (HM_BUSY=fail stops instead)", busy)


def _acquire(settings: Settings, path: Path, on_wait: Callable[[HomeBusy], None]) -> FileLock:
    """The acquired lock; waits (saying for whom) or raises :class:`HomeBusy`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
        return lock
    except Timeout:
        busy = HomeBusy(settings.paths.root, holder(settings))
    if settings.busy == "fail":
        raise busy
    on_wait(busy)
    lock.acquire()
    return lock


def _write_holder(path: Path, command: str | None) -> None:
    """Write down who holds the lock, for the message a second writer shows."""
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    tmp = path.with_name(f".{HOLDER}.{os.getpid()}")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path.with_name(HOLDER))


def sweep(settings: Settings) -> list[Path]:
    """Remove what killed writers left behind (the lock is held, so nothing is in progress): the
    lake's staging folders and the feature snapshots' temporary files and DuckDB spill folders
    (the online store, candidates and answers clean their own at their next write)."""
    stale = Lake(settings.paths.lake).sweep()
    features = settings.paths.features
    if features.is_dir():
        for path in [*features.rglob(".*.tmp"), *features.glob(".duckdb-*")]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            stale.append(path)
    return stale
