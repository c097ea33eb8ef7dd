"""Cheap, stable fingerprints of raw files (for idempotent re-runs and cache keys)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_fingerprint(path: Path) -> str:
    """sha256 over the size, the first and the last MiB of a file (fast even for 3.5 GB)."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(_CHUNK))
        if size > _CHUNK:
            f.seek(max(_CHUNK, size - _CHUNK))
            digest.update(f.read(_CHUNK))
    return digest.hexdigest()[:16]


def files_fingerprint(paths: dict[str, Path], extra: str = "") -> str:
    """One fingerprint for several files (by name) and an extra string (e.g. settings)."""
    digest = hashlib.sha256(extra.encode())
    for name in sorted(paths):
        digest.update(f"{name}={file_fingerprint(paths[name])};".encode())
    return digest.hexdigest()[:16]
