"""Folders published whole: written beside under a temporary name, then switched in one rename.

A published folder ``<name>`` is a symlink to a version folder ``<name>@<id>`` beside it. A writer
fills ``<name>.tmp-<id>`` (:func:`tmp_beside`), renames it to a version, then replaces the link
with ``os.replace`` (atomic): a reader sees the old version or the new one, never a mix, and
never no folder. Readers :func:`resolve` the link once and read every file from that version,
so a switch between two of their files does not mix versions either. The previous version is
kept (a reader may be opening it) and older ones are removed at the next switch, with whatever a
killed writer left (``<name>.tmp-*``, versions no link names).

A home written before this scheme has a plain folder at ``<name>``: the first switch moves it
aside then links (the only moment ``<name>`` is briefly missing).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

TMP = ".tmp-"
VERSION = "@"


def tmp_beside(path: Path) -> Path:
    """A fresh temporary folder beside ``path`` (a killed writer's ones are removed first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path)
    tmp = path.with_name(f"{path.name}{TMP}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    return tmp


def sweep(path: Path) -> None:
    """Remove what killed writers left beside ``path``: temporary folders and links."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for old in path.parent.glob(f"{_escape(path.name)}{TMP}*"):
        _remove(old)


def resolve(path: Path) -> Path:
    """The version folder ``path`` names now (``path`` itself for a plain folder)."""
    return Path(os.path.realpath(path))


def publish(tmp: Path, path: Path) -> Path:
    """Switch ``path`` to the complete folder ``tmp``; returns ``path``."""
    tmp, path = Path(tmp), Path(path)
    previous = resolve(path) if path.is_symlink() else None
    version = path.with_name(f"{path.name}{VERSION}{uuid.uuid4().hex[:12]}")
    tmp.rename(version)
    link = path.with_name(f"{path.name}{TMP}link-{uuid.uuid4().hex[:8]}")
    os.symlink(version.name, link)
    if path.exists() and not path.is_symlink():  # a plain folder of an older home
        path.rename(path.with_name(f"{path.name}{VERSION}legacy-{uuid.uuid4().hex[:8]}"))
    os.replace(link, path)  # the switch
    fsync(path.parent)
    keep = {version.name, previous.name if previous else None}
    for old in versions(path):
        if old.name not in keep:
            _remove(old)
    return path


def versions(path: Path) -> list[Path]:
    """The version folders beside ``path`` (the served one included)."""
    return sorted(Path(path).parent.glob(f"{_escape(Path(path).name)}{VERSION}*"))


def remove(path: Path) -> None:
    """Remove a published folder: its link, every version and temporary beside it."""
    path = Path(path)
    for old in [*versions(path), *path.parent.glob(f"{_escape(path.name)}{TMP}*")]:
        _remove(old)
    _remove(path)


def _remove(path: Path) -> None:
    """Delete a link, file or folder (gone already is fine)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _escape(name: str) -> str:
    """``name`` as a literal in a glob pattern."""
    import glob

    return glob.escape(name)


def fsync(path: Path) -> None:
    """Flush ``path`` to disk: a file's data, or a folder's entries (a rename into it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
