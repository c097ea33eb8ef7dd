"""Content fingerprints of raw files: every byte hashed (xxh3-128), remembered by file stat.

An edit anywhere in a file, even one that keeps its size, changes its hash. Hashing streams the
file in 1 MiB chunks at disk speed; a stat cache under the project home
(``$HM_HOME/cache/file-hashes.json``: path -> size, mtime_ns, ctime_ns, inode, device, hash)
spares re-hashing a file whose stat did not change. A file changed less than
:data:`RACY_NS` before it was hashed is not cached: a later same-size write within the
filesystem's timestamp granularity could otherwise leave its stat unchanged.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from recsys.data.errors import RawDataError

ALGORITHM = "xxh3_128"
CHUNK = 1 << 20  # 1 MiB: measured fastest (the chunk stays in the CPU cache)
RACY_NS = 2_000_000_000


def stamp(path: Path) -> list[int]:
    """What the stat cache compares: size, mtime_ns, ctime_ns, inode and device."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


@dataclass(frozen=True)
class Digest:
    """A file's content hash (``xxh3_128:<hex>``), its size and stat, and prefix hashes."""

    hash: str
    size: int
    stat: tuple[int, ...]
    prefixes: dict[int, str] = field(default_factory=dict)  # byte length -> hash of that prefix


def hash_file(path: Path, prefix: int | None = None) -> tuple[str, str | None]:
    """xxh3-128 of every byte of ``path``, and of its first ``prefix`` bytes, in one pass."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    head = digest.copy().hexdigest() if prefix == 0 else None
    done = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            if head is None and prefix is not None and done + n >= prefix:
                cut = prefix - done
                digest.update(view[:cut])
                head = digest.copy().hexdigest()
                digest.update(view[cut:n])
            else:
                digest.update(view[:n])
            done += n
    label = f"{ALGORITHM}:"
    return label + digest.hexdigest(), None if head is None else label + head


class HashCache:
    """Content hashes of files, reused while a file's stat is unchanged (JSON under the home)."""

    def __init__(self, path: Path | None, racy_ns: int = RACY_NS) -> None:
        self.path = path
        self.racy_ns = racy_ns
        self.entries: dict[str, dict] = self._load()
        self.hashed_bytes = 0  # bytes actually read by this cache (the misses)
        self.dirty = False

    def _load(self) -> dict[str, dict]:
        """The stored entries (none if the file is missing or unreadable)."""
        try:
            return json.loads(self.path.read_text()) if self.path else {}
        except (OSError, ValueError):
            return {}

    def digest(self, path: Path, prefix: int | None = None) -> Digest:
        """The hash of ``path`` (and of its first ``prefix`` bytes), from the cache if valid."""
        path = Path(path).resolve()
        before = stamp(path)
        entry = self.entries.get(str(path))
        if (
            entry
            and entry["stat"] == before
            and (prefix is None or str(prefix) in entry["prefixes"])
        ):
            return _digest_of(entry)
        started = time.time_ns()
        whole, head = hash_file(path, prefix)
        if stamp(path) != before:
            raise RawDataError(
                path, "file changed while it was being read", hint="ingest once the copy is done"
            )
        self.hashed_bytes += before[0]
        kept = entry["prefixes"] if entry and entry["stat"] == before else {}
        new = {"stat": before, "hash": whole, "prefixes": dict(kept)}
        if head is not None:
            new["prefixes"][str(prefix)] = head
        if max(before[1], before[2]) < started - self.racy_ns:
            self.entries[str(path)] = new
            self.dirty = True
        return _digest_of(new)

    def save(self) -> None:
        """Write the entries (atomically) if anything was added; files gone are forgotten."""
        if not (self.dirty and self.path):
            return
        self.entries = {k: v for k, v in self.entries.items() if os.path.exists(k)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries, sort_keys=True))
        os.replace(tmp, self.path)
        self.dirty = False


def _digest_of(entry: dict) -> Digest:
    """A :class:`Digest` from a cache entry."""
    prefixes = {int(k): v for k, v in entry["prefixes"].items()}
    return Digest(entry["hash"], entry["stat"][0], tuple(entry["stat"]), prefixes)


def combine(hashes: dict[str, str], extra: str = "") -> str:
    """One identity for named content hashes and an extra string (e.g. validation settings)."""
    digest = xxhash.xxh3_128(extra.encode())
    for name in sorted(hashes):
        digest.update(f"\0{name}={hashes[name]}".encode())
    return digest.hexdigest()
