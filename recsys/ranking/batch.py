"""Batch recommendations for every customer: the ranker for active ones, best sellers otherwise.

Ranking costs retrieval from every source plus a few hundred feature values per candidate, per
customer. With ``active_weeks`` set, customers without a purchase in that many weeks before the
cutoff (at H&M about half of them) get their age bucket's best sellers from the union's
popularity member instead: what the union would mostly have offered them anyway, at a fraction
of the cost. ``None`` ranks everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.package import FALLBACK, FeatureReader, RecommenderPackage
from recsys.ranking.recommend import fill_with
from recsys.retrieval.base import Retriever
from recsys.retrieval.history import History
from recsys.retrieval.union import UnionRetriever
from recsys.schema import K

COLUMNS = [schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.SCORE, schema.RANK, schema.SOURCE]


def active_mask(history: History, customers: np.ndarray, weeks: int | None) -> np.ndarray:
    """True for the ``customers`` who bought in the last ``weeks`` weeks (all if ``None``)."""
    if weeks is None:
        return np.ones(len(customers), dtype=bool)
    recent = history.recent(7 * weeks)[schema.CUSTOMER_ID].unique()
    return np.isin(customers, recent)


def popularity_member(union: UnionRetriever) -> Retriever | None:
    """The union's (first) popularity source: where dormant customers' lists come from."""
    return next((m for m in union.members.values() if m.kind == "popularity"), None)


def dormant_recommendations(
    union: UnionRetriever, popular: pd.DataFrame, customers: np.ndarray, k: int = K
) -> pd.DataFrame:
    """Top ``k`` of the union's popularity member (by age bucket), topped up from ``popular``."""
    customers = np.unique(np.asarray(customers, np.int64))
    member = popularity_member(union)
    if member is None:
        ranked = popular.iloc[:0].assign(**{schema.SCORE: np.float32(0)})
        name = FALLBACK
    else:
        ranked = member.retrieve(customers, k)
        name = member.name
    out = fill_with(ranked, popular, customers, k)
    keys = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    scored = out.merge(ranked[[*keys, schema.SCORE]], on=keys, how="left")
    scored[schema.SOURCE] = np.where(scored[schema.SCORE].isna(), FALLBACK, name)
    scored[schema.SCORE] = scored[schema.SCORE].astype(np.float32)
    return scored[COLUMNS]


def chunks(customers: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """``customers`` in consecutive slices of at most ``size``."""
    for start in range(0, len(customers), max(1, size)):
        yield customers[start : start + size]


def batch_recommendations(
    package: RecommenderPackage,
    customers: np.ndarray,
    history: History,
    features: FeatureReader,
    options: tuple[int, int, int | None],
    progress: bool = False,
    sink: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Top-12 for every customer; ``options`` = (candidates, chunk size, active weeks).

    ``sink`` receives each chunk's candidate rows (see :meth:`RecommenderPackage.recommend`).
    """
    from tqdm.auto import tqdm

    candidates_k, size, weeks = options
    customers = np.unique(np.asarray(customers, np.int64))
    active = active_mask(history, customers, weeks)
    parts = (
        [dormant_recommendations(package.union, package.popular, customers[~active])]
        if (~active).any()
        else []
    )
    ranked = customers[active]
    bar = tqdm(total=len(ranked), desc="ranking customers", disable=not progress, unit="cust")
    for chunk in chunks(ranked, size):
        parts.append(package.recommend(chunk, history, features, K, candidates_k, sink))
        bar.update(len(chunk))
    bar.close()
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    return out.sort_values([schema.CUSTOMER_ID, schema.RANK], ignore_index=True)
