"""Nearest-neighbour search over unit vectors with FAISS: exact, IVF or HNSW (inner product).

``exact`` is a flat inner-product scan (the reference); ``ivf`` clusters the vectors into ``nlist``
cells and scans the ``nprobe`` nearest cells; ``hnsw`` walks a graph (``hnsw_m`` links per node,
``ef_search`` candidates kept while searching). Build and search run with ``threads`` OpenMP
threads; IVF training is single-threaded so the clustering (and every search) is reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np

IndexKind = Literal["exact", "ivf", "hnsw"]
INDEX_KINDS = ("exact", "ivf", "hnsw")


def set_threads(threads: int) -> None:
    """FAISS OpenMP threads (1 = fully deterministic and no contention with other processes)."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))


class VectorIndex:
    """Ids plus a FAISS index over their unit vectors; search returns ids and cosine scores."""

    def __init__(
        self,
        kind: IndexKind = "exact",
        nlist: int = 0,
        nprobe: int = 8,
        hnsw_m: int = 32,
        ef_search: int = 64,
        ef_construction: int = 80,
        threads: int = 2,
    ):
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; choose one of {list(INDEX_KINDS)}")
        self.kind, self.nlist, self.nprobe, self.hnsw_m = kind, nlist, nprobe, hnsw_m
        self.ef_search, self.ef_construction, self.threads = ef_search, ef_construction, threads
        self.ids = np.zeros(0, dtype=np.int64)
        self.index = None

    def _new_index(self, vectors: np.ndarray, seed: int):
        """An empty (trained) FAISS index of this kind for ``vectors``."""
        import faiss

        dim = vectors.shape[1]
        if self.kind == "exact":
            return faiss.IndexFlatIP(dim)
        if self.kind == "ivf":
            nlist = self.nlist or max(1, int(4 * np.sqrt(len(vectors))))
            nlist = max(1, min(nlist, len(vectors) // 39 or 1))  # >= 39 training points per cell
            index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT
            )
            index.cp.seed = seed
            set_threads(1)
            index.train(vectors)
            self.nlist = nlist
            return index
        index = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _tune(self) -> None:
        """Apply the search-time knobs (nprobe, efSearch) to the FAISS index."""
        if self.kind == "ivf":
            self.index.nprobe = self.nprobe
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = self.ef_search

    def set_search(self, nprobe: int | None = None, ef_search: int | None = None) -> VectorIndex:
        """Change the search-time knobs of a built index (no rebuild)."""
        self.nprobe = self.nprobe if nprobe is None else nprobe
        self.ef_search = self.ef_search if ef_search is None else ef_search
        if self.index is not None:
            self._tune()
        return self

    def build(self, ids: np.ndarray, vectors: np.ndarray, seed: int = 42) -> VectorIndex:
        """Index ``vectors`` (n x d, float32 unit rows) under ``ids``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.ids = np.asarray(ids, dtype=np.int64)
        index = self._new_index(vectors, seed)
        set_threads(1 if self.kind == "hnsw" else self.threads)  # HNSW insert order = graph
        index.add(vectors)
        self.index = index
        self._tune()
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each len(queries) x k; missing neighbours have id -1 and score -inf."""
        pos, scores = self.search_positions(queries, k)
        found = pos >= 0
        return np.where(found, self.ids[np.where(found, pos, 0)], -1), scores

    def search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`search`, with positions in the indexed ``ids`` (-1: missing) for ids."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(int(k), len(self.ids))
        if k <= 0 or len(queries) == 0 or self.index is None:
            k = max(k, 0)
            return np.full((len(queries), k), -1, np.int64), np.full(
                (len(queries), k), -np.inf, np.float32
            )
        set_threads(self.threads)
        scores, pos = self.index.search(queries, k)
        return pos, np.where(pos >= 0, scores, -np.inf).astype(np.float32)

    def settings(self) -> dict:
        """The knobs, JSON-able (saved next to the index)."""
        return {
            "kind": self.kind,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "hnsw_m": self.hnsw_m,
            "ef_search": self.ef_search,
            "ef_construction": self.ef_construction,
            "threads": self.threads,
        }

    def save(self, path: Path, name: str = "index") -> None:
        """Write ``path/name.faiss``, ``path/name.ids.npy`` and ``path/name.json`` (settings)."""
        import faiss

        path = Path(path)
        faiss.write_index(self.index, str(path / f"{name}.faiss"))
        np.save(path / f"{name}.ids.npy", self.ids)
        (path / f"{name}.json").write_text(json.dumps(self.settings(), sort_keys=True))

    @classmethod
    def load(
        cls,
        path: Path,
        name: str = "index",
        kind: IndexKind | None = None,
        nprobe: int | None = None,
    ) -> VectorIndex:
        """An index written by :meth:`save` (``kind``/``nprobe`` override the saved settings)."""
        import faiss

        path = Path(path)
        meta_path = path / f"{name}.json"
        settings = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if kind is not None:
            settings["kind"] = kind
        if nprobe is not None:
            settings["nprobe"] = nprobe
        obj = cls(**settings)
        obj.index = faiss.read_index(str(path / f"{name}.faiss"))
        obj.ids = np.load(path / f"{name}.ids.npy")
        obj._tune()
        return obj
