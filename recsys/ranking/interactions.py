"""Customer-article interaction features computed from the history before the cutoff.

For each candidate pair: how often and how lately the customer bought the article and its product
(any colour), and the customer's affinity to the article's type, colour, department, ... (share of
their purchases sharing the attribute), plus the article's price relative to what they pay.
All vectorised merges; every value is NaN-free except the "days since" of never-bought pairs.
"""

from __future__ import annotations

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


def interaction_features(history: History, pairs: pd.DataFrame) -> pd.DataFrame:
    """Interaction features for ``pairs`` (customer_id, article_id), one row each, same order."""
    keys = pairs[[schema.CUSTOMER_ID, schema.ARTICLE_ID]].reset_index(drop=True)
    tx = _customer_history(history, keys[schema.CUSTOMER_ID].unique())
    out = keys.copy()
    out = _repeat_features(out, tx, schema.ARTICLE_ID, "ca")
    out = _repeat_features(out, tx, "product_code", "cp", _attribute(history, keys, "product_code"))
    for attr in AFFINITY_ATTRIBUTES:
        out[f"aff_{attr}"] = _affinity(tx, _attribute(history, keys, attr), attr, keys)
    out["price_ratio"] = _price_ratio(history, tx, keys)
    return out.drop(columns=[schema.CUSTOMER_ID, schema.ARTICLE_ID])


def feature_names() -> list[str]:
    """Names of the interaction features, in output order."""
    repeat = [f"{p}_{s}" for p in ("ca", "cp") for s in ("count", "count_4w", "days_since")]
    return [*repeat, *(f"aff_{a}" for a in AFFINITY_ATTRIBUTES), "price_ratio"]


def _customer_history(history: History, customers: np.ndarray) -> pd.DataFrame:
    """The asked customers' transactions with days_ago and article attributes."""
    tx = history.transactions
    mask = tx[schema.CUSTOMER_ID].isin(customers).to_numpy()
    cols = [schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.PRICE]
    out = tx.loc[mask, cols].reset_index(drop=True)
    out["days_ago"] = history.days_ago[mask]
    attrs = history.articles[[schema.ARTICLE_ID, "product_code", *AFFINITY_ATTRIBUTES]]
    return out.merge(attrs, on=schema.ARTICLE_ID, how="left")


def _attribute(history: History, keys: pd.DataFrame, attr: str) -> pd.Series:
    """The candidate article's value of ``attr`` per pair (NaN for unknown articles)."""
    table = history.articles.set_index(schema.ARTICLE_ID)[attr]
    return pd.Series(table.reindex(keys[schema.ARTICLE_ID]).to_numpy(), index=keys.index)


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


def _price_ratio(history: History, tx: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Article's recent mean price over the customer's mean paid price (NaN if either unknown)."""
    recent = history.recent(PRICE_DAYS)
    article_price = recent.groupby(schema.ARTICLE_ID)[schema.PRICE].mean()
    customer_price = tx.groupby(schema.CUSTOMER_ID)[schema.PRICE].mean()
    a = article_price.reindex(keys[schema.ARTICLE_ID]).to_numpy()
    c = customer_price.reindex(keys[schema.CUSTOMER_ID]).to_numpy()
    return (a / c).astype(np.float32)
