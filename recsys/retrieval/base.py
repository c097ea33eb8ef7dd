"""The retriever interface: fit on history strictly before a cutoff, return scored candidates."""

from __future__ import annotations

import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.history import History

CANDIDATE_COLUMNS = (
    schema.CUSTOMER_ID,
    schema.ARTICLE_ID,
    schema.SCORE,
    schema.RANK,
    schema.SOURCE,
)
META_FILE = "retriever.json"
FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """A retriever was asked for candidates (or saved) before ``fit``."""


REGISTRY: dict[str, type[Retriever]] = {}  # kind -> class, filled as retriever modules are imported


class Retriever(ABC):
    """A named, configurable candidate source.

    A concrete subclass registers itself with ``class X(Retriever, kind="x", config=XConfig)``:
    ``XConfig`` (a :class:`RetrieverConfig`) declares its parameters, held as ``self.config``;
    it implements ``_fit``, ``_retrieve``, ``_save_state`` and ``_load_state``. ``retrieve`` is
    only ever answered from what ``fit`` saw (dates < cutoff).
    """

    kind: ClassVar[str] = ""
    config_class: ClassVar[type[RetrieverConfig]] = RetrieverConfig
    # True where each customer's top ``q`` is exactly the first ``q`` of its top ``k`` (q < k):
    # scores that do not depend on ``k``, ties to the smaller article id; one longer list then
    # serves both (the union's quota and an evaluation's own list)
    nested: ClassVar[bool] = False
    # how long a fit takes next to other kinds' (about seconds at full H&M scale / 20): members
    # fitted side by side are dealt out heaviest first (:mod:`recsys.retrieval.member_fits`)
    fit_weight: ClassVar[float] = 1.0

    def __init_subclass__(
        cls, kind: str | None = None, config: type[RetrieverConfig] | None = None, **kwargs: Any
    ) -> None:
        """Set the subclass's config class and, given a ``kind``, register it under that kind."""
        super().__init_subclass__(**kwargs)
        if config is not None:
            cls.config_class = config
        if kind is not None:
            taken = REGISTRY.get(kind)
            if taken is not None and qualified(taken) != qualified(cls):  # a reload is fine
                raise TypeError(f"retriever kind {kind!r} is taken by {qualified(taken)}")
            cls.kind = kind
            REGISTRY[kind] = cls

    def __init__(
        self, config: RetrieverConfig | None = None, /, *, name: str | None = None, **params: Any
    ) -> None:
        """From a config, from keyword parameters (checked), or a config with some overridden."""
        self.name = name or self.kind
        where = f"source {self.name!r} (kind {self.kind!r})"
        if config is not None and not isinstance(config, self.config_class):
            raise TypeError(f"{where}: config must be a {self.config_class.__name__}")
        if config is None or params:
            base = {} if config is None else config.to_params()
            config = self.config_class.from_params({**base, **params}, where)
        self.config: RetrieverConfig = config
        self.cutoff: dt.date | None = None

    # -- public API --------------------------------------------------------------------------------
    def fit(self, history: History) -> Retriever:
        """Learn from ``history`` (every transaction dated before ``history.cutoff``)."""
        self._fit(history)
        self.cutoff = history.cutoff
        return self

    def retrieve(
        self,
        customers: Sequence[int] | np.ndarray,
        k: int = 100,
        context: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` candidates per customer: ``customer_id, article_id, score, rank, source``.

        ``context`` holds article ids the customers are looking at (a product page, a cart); sources
        that use it seed from it, the rest ignore it. Unknown customers and unknown context articles
        never raise: a source that knows nothing about a customer returns no rows for it.
        """
        if self.cutoff is None:
            raise NotFittedError(f"retriever {self.name!r} is not fitted")
        ids = np.unique(np.asarray(customers, dtype=np.int64))
        ctx = np.unique(np.asarray([] if context is None else list(context), dtype=np.int64))
        ctx = ctx[(ctx >= 0) & (ctx <= np.iinfo(np.int32).max)].astype(np.int32)  # others: unknown
        frame = self._retrieve(ids, int(k), ctx)
        return finalize(frame, self.name)

    def params(self) -> dict[str, Any]:
        """The flat JSON form of the config, ``name`` included (``create(kind, **params)``)."""
        return {"name": self.name, **self.config.to_params()}

    def save(self, path: Path) -> Path:
        """Write the fitted retriever into folder ``path`` (``retriever.json`` plus state files)."""
        if self.cutoff is None:
            raise NotFittedError(f"retriever {self.name!r} is not fitted")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_state(path)
        meta = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "params": self.params(),
            "cutoff": self.cutoff.isoformat(),
        }
        (path / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return path

    # -- for subclasses ----------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, history: History) -> None: ...

    @abstractmethod
    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        """Rows ``customer_id, article_id, score`` (any order, at most ``k`` per customer is fine;
        :func:`finalize` re-ranks and trims nothing). Use :func:`top_k` to build them."""

    @abstractmethod
    def _save_state(self, path: Path) -> None: ...

    @abstractmethod
    def _load_state(self, path: Path) -> None: ...


def qualified(cls: type) -> str:
    """``module.QualifiedName`` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def top_k(customers: np.ndarray, articles: np.ndarray, scores: np.ndarray, k: int) -> pd.DataFrame:
    """Keep the ``k`` best-scored articles per customer (ties: smaller article id first).

    Inputs are parallel arrays (one row per customer-article pair, pairs unique). Vectorised: one
    lexsort, no Python loop over customers.
    """
    customers = np.asarray(customers, dtype=np.int64)
    articles = np.asarray(articles, dtype=np.int32)
    scores = np.asarray(scores, dtype=np.float32)
    order = candidate_order(customers, scores, articles)
    c, a, s = (
        (customers, articles, scores)
        if order is None
        else (customers[order], articles[order], scores[order])
    )
    rank = group_rank(c)
    keep = rank <= k
    return pd.DataFrame(
        {schema.CUSTOMER_ID: c[keep], schema.ARTICLE_ID: a[keep], schema.SCORE: s[keep]}
    )


def candidate_order(
    customers: np.ndarray, scores: np.ndarray, articles: np.ndarray
) -> np.ndarray | None:
    """Row order by customer, then score descending, then article (same as a 3-key lexsort).

    None when the rows are already in that order (the common case: sources emit sorted rows;
    one O(n) check). Otherwise one stable argsort of a uint64 key packing the customer's dense
    code above the score's order-preserving bits (skipped when the rows are already in key
    order), then a stable sort of the articles within each run of equal keys (near-linear: the
    runs are already in place; skipped when no tied run is out of article order).
    """
    if is_candidate_order(customers, scores, articles):
        return None
    key = (customer_codes(customers) << np.uint64(32)) | (
        np.uint64(0xFFFFFFFF) - score_bits(scores)
    )
    order = None if is_sorted(key) else np.argsort(key, kind="stable")
    return order_ties(key, articles, order)


def customer_codes(customers: np.ndarray) -> np.ndarray:
    """Dense uint64 codes ordered like the customer ids (O(n) when the ids are already sorted)."""
    customers = np.asarray(customers)
    if len(customers) == 0:
        return np.zeros(0, np.uint64)
    if is_sorted(customers):
        return np.cumsum(np.r_[False, customers[1:] != customers[:-1]], dtype=np.uint64)
    _, code = np.unique(customers, return_inverse=True)
    return code.astype(np.uint64).ravel()


def score_bits(scores: np.ndarray) -> np.ndarray:
    """uint64 keys whose ascending order is the float32 scores' (-0.0 counted as 0.0)."""
    bits = (np.asarray(scores, np.float32) + np.float32(0.0)).view(np.uint32)  # -0.0 -> 0.0
    return np.where(bits & 0x80000000, ~bits, bits | 0x80000000).astype(np.uint64)


def is_sorted(values: np.ndarray) -> bool:
    """True if ``values`` never decrease."""
    return bool(np.all(values[1:] >= values[:-1]))


def order_ties(key: np.ndarray, articles: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """``order`` (None: identity) with each run of equal ``key[order]`` re-sorted by article,
    stably: what a stable argsort by article before the one by key would give."""
    k = key if order is None else key[order]
    a = np.asarray(articles if order is None else articles[order], np.int64)
    order = np.arange(len(key)) if order is None else order
    same = k[1:] == k[:-1]
    if not np.any(same & (a[1:] < a[:-1])):
        return order
    run = np.cumsum(np.r_[False, ~same], dtype=np.uint64)
    rank = (a + 2**31).astype(np.uint64)  # int32 ids -> 0 .. 2**32 - 1, order kept
    return order[np.argsort((run << np.uint64(32)) | rank, kind="stable")]


def is_candidate_order(customers: np.ndarray, scores: np.ndarray, articles: np.ndarray) -> bool:
    """True if rows are sorted by customer, score descending, article ascending."""
    if len(customers) < 2:
        return True
    c, s, a = customers, scores, articles
    same_c, same_s = c[1:] == c[:-1], s[1:] == s[:-1]
    in_order = (c[1:] > c[:-1]) | (same_c & ((s[1:] < s[:-1]) | (same_s & (a[1:] >= a[:-1]))))
    return bool(np.all(in_order))


def group_rank(sorted_keys: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal keys (keys must be sorted/grouped)."""
    n = len(sorted_keys)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    start_idx = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return (np.arange(n) - start_idx + 1).astype(np.int32)


def empty_candidates(source: str = "") -> pd.DataFrame:
    """A candidates frame with no rows and the standard dtypes."""
    return finalize(
        pd.DataFrame(
            {
                schema.CUSTOMER_ID: np.zeros(0, np.int64),
                schema.ARTICLE_ID: np.zeros(0, np.int32),
                schema.SCORE: np.zeros(0, np.float32),
            }
        ),
        source,
    )


def finalize(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Standard candidates: sorted by customer then score, ``rank`` 1..n, dtypes, ``source``."""
    c = frame[schema.CUSTOMER_ID].to_numpy(np.int64)
    a = frame[schema.ARTICLE_ID].to_numpy(np.int32)
    s = frame[schema.SCORE].to_numpy(np.float32)
    order = candidate_order(c, s, a)
    if order is not None:
        c, a, s = c[order], a[order], s[order]
    extra = [col for col in frame.columns if col not in CANDIDATE_COLUMNS]
    out = pd.DataFrame(
        {
            schema.CUSTOMER_ID: c,
            schema.ARTICLE_ID: a,
            schema.SCORE: s,
            schema.RANK: group_rank(c),
            schema.SOURCE: pd.Categorical.from_codes(np.zeros(len(c), np.int8), [source]),
        }
    )
    if not extra:
        return out
    rest = frame[extra] if order is None else frame[extra].iloc[order]
    return pd.concat([out, rest.reset_index(drop=True)], axis=1)  # columns appended block-wise
