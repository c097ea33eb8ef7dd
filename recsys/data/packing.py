"""How a raw file is packed: plain CSV or gzip (``articles.csv.gz``), read as is; zip archives
are refused with the command that unpacks them.

A ``.csv.gz`` is read through Arrow's gzip stream and fingerprinted as the file on disk; its rows
cannot be read from a byte offset, so a longer ``transactions_train.csv.gz`` is ingested in full.
A zip (Kaggle's ``h-and-m-personalized-fashion-recommendations.zip``, or ``articles.csv.zip`` as
``kaggle competitions download -f`` saves it) is not read: the error names the ``unzip`` command
(only the three CSV files: the competition archive also holds 30 GB of images).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from recsys import schema
from recsys.data.errors import RawDataError

GZIP = ".gz"
ZIP = ".zip"


def compressed(path: Path) -> bool:
    """Whether ``path`` is a gzip file (by its name)."""
    return Path(path).name.endswith(GZIP)


def find(root: Path, file: str) -> Path | None:
    """``root/file`` or ``root/file.gz`` (None if neither); raises if both, or if only a zip of
    it is there."""
    plain, packed = root / file, root / f"{file}{GZIP}"
    if plain.exists() and packed.exists():
        raise RawDataError(
            packed, f"two copies of {file}", hint=f"keep {plain.name} or {packed.name}"
        )
    if plain.exists() or packed.exists():
        return plain if plain.exists() else packed
    zipped = root / f"{file}{ZIP}"
    if zipped.exists():
        refuse_zip(zipped, root, (file,))
    return None


def refuse_zip(
    archive: Path, into: Path, members: tuple[str, ...] = schema.RAW_FILES, raw: Path | None = None
) -> None:
    """Raise for a zip archive, naming the command that extracts ``members`` (all when empty)
    into ``into`` and the ingest of the raw folder ``raw`` (``into`` by default)."""
    names = "".join(f" {m}" for m in members)
    raise RawDataError(
        archive,
        "zip archives are not read: extract the CSV files first",
        hint=f"unzip -o {archive}{names} -d {into}  then  hm ingest --raw {raw or into}",
    )


def zips_in(root: Path) -> list[Path]:
    """The zip archives in ``root``."""
    return sorted(p for p in root.iterdir() if p.name.endswith(ZIP))


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed if it is gzip."""
    return gzip.open(path, "rb") if compressed(path) else open(path, "rb")  # noqa: SIM115


def arrow_stream(path: Path, offset: int = 0) -> tuple[pa.NativeFile, pa.NativeFile]:
    """``(stream, file)``: the decompressed stream Arrow reads (from ``offset``, plain files only)
    and the file on disk, whose position measures progress."""
    file = pa.OSFile(str(path))
    if offset:
        if compressed(path):
            raise ValueError(f"{path}: a gzip file cannot be read from a byte offset")
        file.seek(offset)
    stream = pa.CompressedInputStream(file, "gzip") if compressed(path) else file
    return stream, file


def read_size(path: Path, offset: int = 0) -> tuple[int, int | None]:
    """``(size, modulus)``: the bytes a read from ``offset`` decompresses to, known modulo
    ``modulus`` (2**32 for gzip, whose trailer holds the size modulo 2**32; the last member's
    only, so a concatenated gzip never looks like a whole one); modulus None: exact."""
    if not compressed(path):
        return path.stat().st_size - offset, None
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4))
        return int.from_bytes(f.read(4), "little"), 1 << 32


def last_byte(path: Path) -> bytes:
    """The file's last (decompressed) byte."""
    if not compressed(path):
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 1))
            return f.read(1)
    last = b""
    with open_binary(path) as f:
        while chunk := f.read(1 << 20):
            last = chunk[-1:]
    return last
