"""The union of several sources: per-source quotas, deduped, each source's score and rank kept."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.base import (
    NotFittedError,
    Retriever,
    candidate_order,
    empty_candidates,
    finalize,
    group_rank,
)
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.history import History
from recsys.retrieval.sources import DEFAULT_SOURCES, SourceSpec, parse_sources

RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al.): score = sum 1 / (RRF_K + rank)


@dataclass(frozen=True)
class UnionConfig(RetrieverConfig):
    """Parameters of :class:`UnionRetriever`. ``sources`` may be given as specs or as their flat
    dicts (``{"kind", "quota", "name", **params}``, checked by :func:`parse_sources`); empty or
    None means ``DEFAULT_SOURCES``. Its JSON form lists the flat dicts."""

    sources: tuple[SourceSpec, ...] = DEFAULT_SOURCES  # the members, in order, with their quotas
    chunk_size: int = 50_000  # customers merged at a time

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", member_specs(self.sources))
        super().__post_init__()

    def to_params(self) -> dict[str, Any]:
        """The flat form ``retriever.json`` has always held: sources as flat dicts."""
        return {"sources": [s.as_dict() for s in self.sources], "chunk_size": self.chunk_size}


def member_specs(
    sources: Sequence[SourceSpec | Mapping[str, Any]] | None,
) -> tuple[SourceSpec, ...]:
    """Checked specs from specs or flat dicts (``DEFAULT_SOURCES`` when empty or None)."""
    if not sources:
        return DEFAULT_SOURCES
    if not isinstance(sources, Sequence) or isinstance(sources, str):
        raise ValueError(f"parameter 'sources' must be a list of sources, got {sources!r}")
    items = [s.as_dict() if isinstance(s, SourceSpec) else dict(s) for s in sources]
    return tuple(parse_sources(items))


class UnionRetriever(Retriever, kind="union", config=UnionConfig):
    """Merges sources: each proposes up to its ``quota``; pairs are deduped and fused by RRF.

    The output keeps ``<source>_score`` and ``<source>_rank`` per source (NaN where a source did not
    propose the pair), ``n_sources``, and ``source`` = the source that ranked the pair best: these
    are features for the ranker.
    """

    config: UnionConfig

    def __init__(self, config: UnionConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self.members: dict[str, Retriever] = {}

    @property
    def source_names(self) -> list[str]:
        """Member names, in the configured order."""
        return [spec.name for spec in self.config.sources]

    def _fit(self, history: History) -> None:
        self.members = {spec.name: spec.build().fit(history) for spec in self.config.sources}

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        parts = [self._merge(c, k, self._quota_lists(c, context)) for c in self._chunks(customers)]
        return self._joined(parts)

    def retrieve_with_lists(
        self, customers: np.ndarray, k: int, keep: int
    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """``retrieve(customers, k)`` and every member's own ``retrieve(customers, keep)``.

        A :attr:`Retriever.nested` member is asked once, at the longer of its quota and
        ``keep``, and both lists are cut from that answer; any other member is asked at both.
        """
        if self.cutoff is None:
            raise NotFittedError(f"retriever {self.name!r} is not fitted")
        ids = np.unique(np.asarray(customers, dtype=np.int64))
        parts, own = [], {name: [] for name in self.source_names}
        for chunk in self._chunks(ids):
            pairs = [self._both_lists(spec, chunk, keep) for spec in self.config.sources]
            parts.append(self._merge(chunk, k, [quota for quota, _ in pairs]))
            for name, (_, long) in zip(self.source_names, pairs, strict=True):
                own[name].append(long)
        lists = {name: _stacked(frames, name) for name, frames in own.items()}
        return finalize(self._joined(parts), self.name), lists

    def _both_lists(
        self, spec: SourceSpec, customers: np.ndarray, keep: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A member's top ``quota`` and top ``keep`` (one call where its lists nest)."""
        member = self.members[spec.name]
        if not (member.nested or spec.quota == keep):
            return member.retrieve(customers, spec.quota), member.retrieve(customers, keep)
        longest = member.retrieve(customers, max(spec.quota, keep))
        ranks = longest[schema.RANK]
        return longest[ranks <= spec.quota], longest[ranks <= keep]

    def _joined(self, parts: list[pd.DataFrame]) -> pd.DataFrame:
        """The chunks' merged candidates as one frame (the empty frame when none has rows)."""
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else self._empty()

    def _chunks(self, customers: np.ndarray) -> Iterator[np.ndarray]:
        size = self.config.chunk_size
        for start in range(0, len(customers), size):
            yield customers[start : start + size]

    def _quota_lists(self, customers: np.ndarray, context: np.ndarray) -> Iterator[pd.DataFrame]:
        """Every member's candidates for ``customers``, each up to its quota (one at a time)."""
        for spec in self.config.sources:
            yield self.members[spec.name].retrieve(customers, spec.quota, context)

    def _merge(self, customers: np.ndarray, k: int, lists: Iterable[pd.DataFrame]) -> pd.DataFrame:
        """One chunk: the members' ``lists`` deduped into pairs, fused by RRF, cut to ``k``."""
        long = self._member_arrays(lists)
        if long is None:
            return self._empty()
        cust, art, score, ranks, member = long
        pos = np.searchsorted(customers, cust)  # customers are sorted and unique
        pairs, inverse = np.unique((pos << 32) | art, return_inverse=True)
        inverse = inverse.ravel()
        fused = np.bincount(inverse, weights=1.0 / (RRF_K + ranks), minlength=len(pairs))
        c, a = customers[pairs >> 32], (pairs & 0xFFFFFFFF).astype(np.int32)
        s = fused.astype(np.float32)
        order = candidate_order(c, s, a)
        order = np.arange(len(pairs)) if order is None else order
        kept = order[group_rank(c[order]) <= k]  # top_k, keeping which pairs survive
        frame = {schema.CUSTOMER_ID: c[kept], schema.ARTICLE_ID: a[kept], schema.SCORE: s[kept]}
        features = self._features(kept, inverse, member, score, ranks)
        return pd.concat([pd.DataFrame(frame), features], axis=1)

    def _member_arrays(self, lists: Iterable[pd.DataFrame]) -> tuple[np.ndarray, ...] | None:
        """The members' ``lists`` (in configured order) concatenated: (customer, article, score,
        rank, member index); None when no member proposes anything."""
        parts = [
            (
                frame[schema.CUSTOMER_ID].to_numpy(np.int64),
                frame[schema.ARTICLE_ID].to_numpy(np.int64),
                frame[schema.SCORE].to_numpy(np.float32),
                frame[schema.RANK].to_numpy(np.float32),
                np.full(len(frame), j, np.int8),
            )
            for j, frame in enumerate(lists)
            if len(frame)
        ]
        if not parts:
            return None
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def member_candidates(self, customers: np.ndarray, context: np.ndarray) -> pd.DataFrame:
        """Long frame of every member's candidates (each up to its quota), ``source`` = member."""
        long = self._member_arrays(self._quota_lists(customers, context))
        if long is None:
            return pd.DataFrame()
        cust, art, score, ranks, member = long
        return pd.DataFrame(
            {
                schema.CUSTOMER_ID: cust,
                schema.ARTICLE_ID: art.astype(np.int32),
                schema.SCORE: score,
                schema.RANK: ranks.astype(np.int32),
                schema.SOURCE: pd.Categorical.from_codes(member, self.source_names),
            }
        )

    def _features(
        self,
        kept: np.ndarray,
        inverse: np.ndarray,
        member: np.ndarray,
        score: np.ndarray,
        ranks: np.ndarray,
    ) -> pd.DataFrame:
        """``<source>_score``/``_rank`` per member, ``n_sources`` and ``best_source`` of the
        ``kept`` pairs (positions in the chunk's pairs; ``inverse`` maps candidate rows to them).
        Only kept pairs get a row of the member x pair matrices."""
        slot = np.full(int(inverse.max()) + 1, -1, np.int64)
        slot[kept] = np.arange(len(kept))
        row = slot[inverse]
        sel = row >= 0
        n_members, n_kept = len(self.config.sources), len(kept)
        # one float32 block, a row per column (score, rank per member): pandas keeps it as is
        block = np.full((2 * n_members, n_kept), np.nan, np.float32)
        flat = 2 * member[sel].astype(np.int64) * n_kept + row[sel]
        block.ravel()[flat], block.ravel()[flat + n_kept] = score[sel], ranks[sel]
        columns = [f"{n}_{c}" for n in self.source_names for c in (schema.SCORE, schema.RANK)]
        n_sources = np.zeros(n_kept, np.int8)
        best, best_rank = np.zeros(n_kept, np.int8), np.full(n_kept, np.inf, np.float32)
        for j in range(n_members):
            ranked = block[2 * j + 1]
            n_sources += np.isfinite(ranked)
            better = ranked < best_rank  # strict: the first member wins ties, as argmin does
            best[better], best_rank[better] = j, ranked[better]
        tail = {
            "n_sources": n_sources,
            "best_source": pd.Categorical.from_codes(best, self.source_names),
        }
        return pd.concat([pd.DataFrame(block.T, columns=columns), pd.DataFrame(tail)], axis=1)

    def _empty(self) -> pd.DataFrame:
        frame = empty_candidates().iloc[:, :3]
        for name in self.source_names:
            frame[f"{name}_{schema.SCORE}"] = np.zeros(0, np.float32)
            frame[f"{name}_{schema.RANK}"] = np.zeros(0, np.float32)
        frame["n_sources"] = np.zeros(0, np.int8)
        frame["best_source"] = pd.Categorical([], self.source_names)
        return frame

    def _save_state(self, path: Path) -> None:
        for name, member in self.members.items():
            member.save(Path(path) / name)

    def _load_state(self, path: Path) -> None:
        from recsys.retrieval.registry import load_retriever

        self.members = {
            spec.name: load_retriever(Path(path) / spec.name) for spec in self.config.sources
        }


def _stacked(frames: list[pd.DataFrame], name: str) -> pd.DataFrame:
    """One member's lists of consecutive chunks as one candidates frame (index 0..n-1)."""
    if not frames:
        return empty_candidates(name)
    return (
        frames[0].reset_index(drop=True)
        if len(frames) == 1
        else pd.concat(frames, ignore_index=True)
    )
