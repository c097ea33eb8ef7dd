"""Customer-article interaction features computed from the history before the cutoff.

For each candidate pair: how often and how lately the customer bought the article and its product
(any colour), and the customer's affinity to the article's type, colour, department, ... (share of
their purchases sharing the attribute), plus the article's price relative to what they pay.
All vectorised merges; every value is NaN-free except the "days since" of never-bought pairs.
Asked for many chunks of pairs (the batch), :class:`InteractionTables` holds what does not depend
on the chunk, built once: the history's rows grouped by customer (each chunk slices its customers'
rows instead of scanning the whole history), the article attributes and recent prices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import schema
from recsys.retrieval.history import History

AFFINITY_ATTRIBUTES = (
    "product_type_no",
    "colour_group_code",
    "department_no",
    "index_group_no",
    "garment_group_no",
    "graphical_appearance_no",
    "section_no",
)
RECENT_DAYS = 28
PRICE_DAYS = 28


@dataclass(frozen=True)
class InteractionTables:
    """The chunk-independent inputs of :func:`interaction_features` for one history.

    ``order`` lists the transactions' positions grouped by customer (date order kept within),
    customer ``customers[i]`` owning ``order[offsets[i]:offsets[i + 1]]``; without it (``order``
    None) a customer's rows are found by a scan of the whole history, which is cheaper for one
    call. ``attributes`` is indexed by article; ``article_price`` is each article's mean price
    over the last ``PRICE_DAYS`` days.
    """

    history: History
    attributes: pd.DataFrame
    article_price: pd.Series
    order: np.ndarray | None = None
    customers: np.ndarray | None = None
    offsets: np.ndarray | None = None

    @classmethod
    def build(cls, history: History, by_customer: bool = True) -> InteractionTables:
        """The tables of ``history``; ``by_customer`` also groups its rows by customer."""
        attrs = history.articles[[schema.ARTICLE_ID, "product_code", *AFFINITY_ATTRIBUTES]]
        recent = history.recent(PRICE_DAYS)
        price = recent.groupby(schema.ARTICLE_ID)[schema.PRICE].mean()
        if not by_customer:
            return cls(history, attrs.set_index(schema.ARTICLE_ID), price)
        cust = history.transactions[schema.CUSTOMER_ID].to_numpy(np.int64)
        order = np.argsort(cust, kind="stable").astype(np.int32 if len(cust) < 2**31 else np.int64)
        grouped = cust[order]
        first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]][: len(cust)])
        customers, offsets = grouped[first], np.r_[first, len(cust)].astype(np.int64)
        return cls(history, attrs.set_index(schema.ARTICLE_ID), price, order, customers, offsets)

    def rows(self, customers: np.ndarray) -> np.ndarray:
        """Ascending positions in the history of the transactions of ``customers`` (unique)."""
        if self.order is None:
            tx = self.history.transactions
            return np.flatnonzero(tx[schema.CUSTOMER_ID].isin(customers).to_numpy())
        wanted = np.asarray(customers, np.int64)
        at = np.searchsorted(self.customers, wanted)
        known = at < len(self.customers)
        known[known] = self.customers[at[known]] == wanted[known]
        starts, ends = self.offsets[at[known]], self.offsets[at[known] + 1]
        lengths = ends - starts
        shift = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        return np.sort(self.order[shift + np.arange(lengths.sum())])


def interaction_features(
    history: History, pairs: pd.DataFrame, tables: InteractionTables | None = None
) -> pd.DataFrame:
    """Interaction features for ``pairs`` (customer_id, article_id), one row each, same order.

    ``tables`` (of the same history) saves rebuilding them when called for many chunks.
    """
    tables = tables if tables is not None else InteractionTables.build(history, by_customer=False)
    keys = pairs[[schema.CUSTOMER_ID, schema.ARTICLE_ID]].reset_index(drop=True)
    tx = _customer_history(tables, keys[schema.CUSTOMER_ID].unique())
    out = keys.copy()
    out = _repeat_features(out, tx, schema.ARTICLE_ID, "ca")
    out = _repeat_features(out, tx, "product_code", "cp", _attribute(tables, keys, "product_code"))
    for attr in AFFINITY_ATTRIBUTES:
        out[f"aff_{attr}"] = _affinity(tx, _attribute(tables, keys, attr), attr, keys)
    out["price_ratio"] = _price_ratio(tables, tx, keys)
    return out.drop(columns=[schema.CUSTOMER_ID, schema.ARTICLE_ID])


def feature_names() -> list[str]:
    """Names of the interaction features, in output order."""
    repeat = [f"{p}_{s}" for p in ("ca", "cp") for s in ("count", "count_4w", "days_since")]
    return [*repeat, *(f"aff_{a}" for a in AFFINITY_ATTRIBUTES), "price_ratio"]


def _customer_history(tables: InteractionTables, customers: np.ndarray) -> pd.DataFrame:
    """The asked customers' transactions (history order) with days_ago and article attributes."""
    rows = tables.rows(customers)
    cols = [schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.PRICE]
    tx = tables.history.transactions
    out = pd.DataFrame({c: tx[c].to_numpy()[rows] for c in cols})
    out["days_ago"] = tables.history.days_ago[rows]
    return out.merge(tables.attributes, left_on=schema.ARTICLE_ID, right_index=True, how="left")


def _attribute(tables: InteractionTables, keys: pd.DataFrame, attr: str) -> pd.Series:
    """The candidate article's value of ``attr`` per pair (NaN for unknown articles)."""
    values = tables.attributes[attr].reindex(keys[schema.ARTICLE_ID]).to_numpy()
    return pd.Series(values, index=keys.index)


def _repeat_features(
    out: pd.DataFrame, tx: pd.DataFrame, key: str, prefix: str, values: pd.Series | None = None
) -> pd.DataFrame:
    """``<prefix>_count``, ``_count_4w`` and ``_days_since`` of the customer buying ``key``."""
    group = [schema.CUSTOMER_ID, key]
    stats = tx.groupby(group, sort=False)["days_ago"].agg(["size", "min"])
    stats.columns = ["count", "days_since"]
    recent = tx[tx["days_ago"] <= RECENT_DAYS].groupby(group, sort=False).size()
    stats["count_4w"] = recent.reindex(stats.index, fill_value=0)
    left = pd.DataFrame(
        {schema.CUSTOMER_ID: out[schema.CUSTOMER_ID], key: out[key] if values is None else values}
    )
    joined = left.merge(stats, left_on=[schema.CUSTOMER_ID, key], right_index=True, how="left")
    out[f"{prefix}_count"] = joined["count"].fillna(0).to_numpy(np.float32)
    out[f"{prefix}_count_4w"] = joined["count_4w"].fillna(0).to_numpy(np.float32)
    out[f"{prefix}_days_since"] = joined["days_since"].to_numpy(np.float32)
    return out


def _affinity(tx: pd.DataFrame, values: pd.Series, attr: str, keys: pd.DataFrame) -> np.ndarray:
    """Share of the customer's purchases whose article shares ``attr`` with the candidate."""
    counts = tx.groupby([schema.CUSTOMER_ID, attr], sort=False).size().rename("n")
    totals = tx.groupby(schema.CUSTOMER_ID, sort=False).size().rename("total")
    left = pd.DataFrame({schema.CUSTOMER_ID: keys[schema.CUSTOMER_ID], attr: values})
    joined = left.merge(counts, left_on=[schema.CUSTOMER_ID, attr], right_index=True, how="left")
    joined = joined.merge(totals, left_on=schema.CUSTOMER_ID, right_index=True, how="left")
    return (joined["n"].fillna(0) / joined["total"]).fillna(0).to_numpy(np.float32)


def _price_ratio(tables: InteractionTables, tx: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Article's recent mean price over the customer's mean paid price (NaN if either unknown)."""
    customer_price = tx.groupby(schema.CUSTOMER_ID)[schema.PRICE].mean()
    a = tables.article_price.reindex(keys[schema.ARTICLE_ID]).to_numpy()
    c = customer_price.reindex(keys[schema.CUSTOMER_ID]).to_numpy()
    return (a / c).astype(np.float32)
