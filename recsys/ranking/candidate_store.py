"""Per-customer candidates precomputed by the batch, read back in microseconds by the server.

The batch retrieves each active customer's union candidates and computes their interaction
features anyway; writing those rows here lets the online ranker skip retrieval and history scans.
Layout (one folder): ``customers.npy`` (sorted ids), ``offsets.npy`` (row range per customer),
``articles.bin`` (int32) and ``values.bin`` (float32, rows x columns), ``meta.json`` (columns,
rows, cutoff), and ``scores.bin`` (float64) when the writer was given the ranker's scores (the
batch: what the answers ranked ahead reuse when the features online are the ones it scored).
The binaries are memory-mapped: opening costs nothing and a request reads one contiguous slice.
Written into a temporary folder beside, then switched in by one rename (:mod:`recsys.swap`):
readers see the old store or the new one, never half of one, and a killed writer leaves the old
store served (its temporary folder is removed by the next write).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema, swap
from recsys.settings import Settings

KEYS = (schema.CUSTOMER_ID, schema.ARTICLE_ID)
WRITE_ROWS = 1 << 16  # candidate rows converted to float32 and written at a time
SCORES = "scores.bin"
FEATURES = "features"  # meta: the snapshots' version the scores were computed over
RANKER = "ranker"  # meta: the digest of the ranker that scored them (stores are per union)
RANKER_SCORE = "ranker_score"  # a chunk's column of the ranker's scores (``score`` is the union's)


def package_store(settings: Settings, package_key: str) -> Path:
    """Where the batch keeps the candidates of the package with ``package_key`` and the server
    reads them (:meth:`RecommenderPackage.key`)."""
    return settings.paths.candidates / package_key


def prune_stores(root: Path, keep: set[str]) -> list[str]:
    """Remove every candidate store under ``root`` but those of the package keys in ``keep``
    (with their versions and what killed writers left); the keys removed. A reader that has
    a removed store open keeps reading it (its files are memory-mapped)."""
    if not root.is_dir():
        return []
    keys = {p.name.split(swap.VERSION)[0].split(swap.TMP)[0] for p in root.iterdir()}
    gone = sorted(keys - keep)
    for key in gone:
        swap.remove(root / key)
    return gone


class CandidateStoreWriter:
    """Appends chunks of candidate rows (customers ascending across chunks), then publishes."""

    def __init__(self, path: Path, columns: list[str] | None = None) -> None:
        self.path, self.columns = Path(path), columns
        self.tmp = swap.tmp_beside(self.path)
        self._articles = open(self.tmp / "articles.bin", "wb")  # noqa: SIM115 (closed in close)
        self._values = open(self.tmp / "values.bin", "wb")  # noqa: SIM115
        self._scores = open(self.tmp / SCORES, "wb")  # noqa: SIM115
        self.scored: bool | None = None  # whether the chunks carry scores (all or none)
        self._customers: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self.rows = 0

    def append(self, frame: pd.DataFrame) -> None:
        """Write ``frame``'s rows grouped by customer (the numeric columns other than the keys;
        a :data:`RANKER_SCORE` column goes to the scores, in every chunk or in none)."""
        if self.columns is None:
            skip = (*KEYS, RANKER_SCORE)
            self.columns = [c for c in frame if c not in skip and frame[c].dtype.kind in "fiub"]
        scored = RANKER_SCORE in frame
        if self.scored is not None and scored != self.scored:
            raise ValueError("either every candidate chunk has scores or none has")
        self.scored = scored
        cust = frame[schema.CUSTOMER_ID].to_numpy(np.int64)
        if (cust[1:] < cust[:-1]).any():  # not grouped by customer yet (the batch's rows are)
            frame = frame.sort_values(schema.CUSTOMER_ID, kind="stable")
            cust = frame[schema.CUSTOMER_ID].to_numpy(np.int64)
        first = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]][: len(cust)])
        ids, counts = cust[first], np.diff(np.r_[first, len(cust)])
        if self._customers and len(ids) and ids[0] <= self._customers[-1][-1]:
            raise ValueError("candidate chunks must come in ascending customer order")
        self._articles.write(np.ascontiguousarray(frame[schema.ARTICLE_ID].to_numpy(np.int32)))
        columns = [frame[c].to_numpy(np.float32) for c in self.columns]
        for lo in range(0, len(frame), WRITE_ROWS):  # rows x columns, a block of rows at a time
            self._values.write(np.column_stack([c[lo : lo + WRITE_ROWS] for c in columns]))
        if scored:
            self._scores.write(np.ascontiguousarray(frame[RANKER_SCORE].to_numpy(np.float64)))
        self._customers.append(ids)
        self._counts.append(counts)
        self.rows += len(frame)

    def close(self, meta: dict | None = None) -> Path:
        """Finish the files and swap the folder into place; returns its path."""
        self._articles.close()
        self._values.close()
        self._scores.close()
        if not self.scored:
            (self.tmp / SCORES).unlink()
        customers = np.concatenate([np.zeros(0, np.int64), *self._customers])
        counts = np.concatenate([np.zeros(0, np.int64), *self._counts])
        np.save(self.tmp / "customers.npy", customers)
        np.save(self.tmp / "offsets.npy", np.r_[0, np.cumsum(counts)].astype(np.int64))
        info = {**(meta or {}), "columns": self.columns or [], "rows": self.rows}
        info["scored"] = bool(self.scored)
        (self.tmp / "meta.json").write_text(json.dumps(info, indent=1, default=str))
        return swap.publish(self.tmp, self.path)


@dataclass(frozen=True)
class CandidateStore:
    """Read side: ``get(customer)`` -> (article ids, feature rows) of the precomputed candidates."""

    customers: np.ndarray
    offsets: np.ndarray
    articles: np.ndarray
    values: np.ndarray
    columns: list[str]
    meta: dict
    scores: np.ndarray | None = None  # the ranker's score of each row, when the writer had them
    path: Path | None = None  # the version folder it was opened from

    @classmethod
    def open(cls, path: Path) -> CandidateStore:
        """Memory-map a store written by :class:`CandidateStoreWriter` (every file from the one
        version ``path`` names now)."""
        path = swap.resolve(path)
        meta = json.loads((path / "meta.json").read_text())
        rows, cols = int(meta["rows"]), len(meta["columns"])
        articles = _map(path / "articles.bin", np.int32, (rows,))
        values = _map(path / "values.bin", np.float32, (rows, cols))
        scores = _map(path / SCORES, np.float64, (rows,)) if meta.get("scored") else None
        return cls(
            np.load(path / "customers.npy"),
            np.load(path / "offsets.npy"),
            articles,
            values,
            list(meta["columns"]),
            meta,
            scores,
            path,
        )

    def get(self, customer_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The customer's candidate article ids and feature rows (empty if none stored)."""
        i = int(np.searchsorted(self.customers, customer_id))
        if i == len(self.customers) or self.customers[i] != customer_id:
            return self.articles[:0], self.values[:0]
        start, end = self.offsets[i], self.offsets[i + 1]
        return self.articles[start:end], self.values[start:end]

    def read(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Rows ``r0:r1`` as (articles, values, scores or None), read from the files rather than
        through the maps: a scan of the whole store (ranking ahead) would otherwise leave every
        page it touched mapped into the reader (~15 GiB of resident memory at full scale)."""
        if self.path is None:  # not opened from files
            scores = None if self.scores is None else np.asarray(self.scores[r0:r1])
            return np.asarray(self.articles[r0:r1]), np.asarray(self.values[r0:r1]), scores
        n, cols = r1 - r0, len(self.columns)
        articles = _rows(self.path / "articles.bin", np.int32, r0, n)
        values = _rows(self.path / "values.bin", np.float32, r0 * cols, n * cols)
        scored = self.scores is not None
        scores = _rows(self.path / SCORES, np.float64, r0, n) if scored else None
        return articles, values.reshape(n, cols), scores

    def frame(self, customer_id: int) -> pd.DataFrame:
        """The customer's rows as a frame (``customer_id``, ``article_id`` and the columns)."""
        articles, values = self.get(customer_id)
        frame = pd.DataFrame(np.asarray(values), columns=self.columns)
        frame.insert(0, schema.ARTICLE_ID, np.asarray(articles))
        frame.insert(0, schema.CUSTOMER_ID, np.int64(customer_id))
        return frame


def _rows(path: Path, dtype: type, start: int, count: int) -> np.ndarray:
    """``count`` items of ``dtype`` from item ``start`` of file ``path`` (a plain read)."""
    size = np.dtype(dtype).itemsize
    return np.fromfile(path, dtype=dtype, count=count, offset=start * size)


def _map(path: Path, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only memory map (an empty array for an empty file, which mmap refuses)."""
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)
