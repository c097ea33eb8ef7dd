"""Customer-article interaction features computed from the history before the cutoff.

For each candidate pair: how often and how lately the customer bought the article and its product
(any colour), and the customer's affinity to the article's type, colour, department, ... (share of
their purchases sharing the attribute), plus the article's price relative to what they pay.
Every value is NaN-free except the "days since" of never-bought pairs (and a price ratio whose
article or customer has no price). Pairs and purchases meet as integer keys (the customer's
position among the call's customers with an article or attribute code): counts of purchase keys
are looked up per pair key, no frame is merged. Asked for many chunks of pairs (the batch),
:class:`InteractionTables` holds what does not depend on the chunk, built once: the history's
rows grouped by customer (each chunk slices its customers' rows instead of scanning the whole
history), the article attribute codes and recent prices.
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
DENSE_KEYS = 1 << 22  # key counts up to this key space are kept in one table (else hashed)


@dataclass(frozen=True)
class InteractionTables:
    """The chunk-independent inputs of :func:`interaction_features` for one history.

    ``order`` lists the transactions' positions grouped by customer (date order kept within),
    customer ``customers[i]`` owning ``order[offsets[i]:offsets[i + 1]]``; without it (``order``
    None) a customer's rows are found by a scan of the whole history, which is cheaper for one
    call. ``articles`` indexes the catalogue's articles, then those sold in the last
    ``PRICE_DAYS`` days that it lacks; per indexed article, ``codes`` holds each attribute's
    (``product_code`` and the affinity ones) value as a code (-1: null) and ``article_price``
    its mean price over those days (NaN: unsold), each with one more entry (-1, NaN) for any
    article not indexed.
    """

    history: History
    articles: pd.Index
    codes: dict[str, np.ndarray]
    article_price: np.ndarray
    order: np.ndarray | None = None
    customers: np.ndarray | None = None
    offsets: np.ndarray | None = None

    @classmethod
    def build(cls, history: History, by_customer: bool = True) -> InteractionTables:
        """The tables of ``history``; ``by_customer`` also groups its rows by customer."""
        articles, codes, price = _article_tables(history)
        if not by_customer:
            return cls(history, articles, codes, price)
        cust = history.transactions[schema.CUSTOMER_ID].to_numpy(np.int64)
        order = np.argsort(cust, kind="stable").astype(np.int32 if len(cust) < 2**31 else np.int64)
        grouped = cust[order]
        first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]][: len(cust)])
        customers, offsets = grouped[first], np.r_[first, len(cust)].astype(np.int64)
        return cls(history, articles, codes, price, order, customers, offsets)

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


def _article_tables(history: History) -> tuple[pd.Index, dict[str, np.ndarray], np.ndarray]:
    """The article index, attribute codes and recent mean prices of :class:`InteractionTables`."""
    attrs = history.articles[[schema.ARTICLE_ID, "product_code", *AFFINITY_ATTRIBUTES]]
    recent = history.recent(PRICE_DAYS)
    price = recent.groupby(schema.ARTICLE_ID)[schema.PRICE].mean()
    ids = attrs[schema.ARTICLE_ID].to_numpy(np.int64)
    sold = price.index.to_numpy(np.int64)
    articles = pd.Index(np.r_[ids, sold[~np.isin(sold, ids)]])
    if not articles.is_unique:
        raise ValueError("the article table repeats an article id")
    unknown = np.full(len(articles) - len(ids) + 1, -1, np.int64)
    codes = {c: np.r_[pd.factorize(attrs[c])[0], unknown] for c in attrs if c != schema.ARTICLE_ID}
    prices = price.reindex(articles).to_numpy()
    return articles, codes, np.append(prices, np.array([np.nan], prices.dtype))


def interaction_features(
    history: History, pairs: pd.DataFrame, tables: InteractionTables | None = None
) -> pd.DataFrame:
    """Interaction features for ``pairs`` (customer_id, article_id), one row each, same order.

    ``tables`` (of the same history) saves rebuilding them when called for many chunks.
    """
    tables = tables if tables is not None else InteractionTables.build(history, by_customer=False)
    who, customers = pd.factorize(pairs[schema.CUSTOMER_ID].to_numpy(np.int64))
    art = pairs[schema.ARTICLE_ID].to_numpy(np.int64)
    rows = tables.rows(customers)
    tx = tables.history.transactions
    tx_who = pd.Index(customers).get_indexer(tx[schema.CUSTOMER_ID].to_numpy(np.int64)[rows])
    tx_art = tx[schema.ARTICLE_ID].to_numpy(np.int64)[rows]
    days = tables.history.days_ago[rows]
    at, tx_at = tables.articles.get_indexer(art), tables.articles.get_indexer(tx_art)  # -1: none
    out = _repeat_features("ca", _article_keys(tx_who, tx_art), _article_keys(who, art), days)
    code = tables.codes["product_code"]
    width = int(code.max(initial=-1)) + 1
    keys = _keys(tx_who, code[tx_at], width), _keys(who, code[at], width)
    out |= _repeat_features("cp", *keys, days)
    totals = np.bincount(tx_who, minlength=len(customers))[who]
    for attr in AFFINITY_ATTRIBUTES:
        code = tables.codes[attr]
        width = int(code.max(initial=-1)) + 1
        n = _counts(_keys(tx_who, code[tx_at], width), _keys(who, code[at], width))
        share = np.divide(n, totals, out=np.zeros(len(n)), where=totals > 0)
        out[f"aff_{attr}"] = share.astype(np.float32)
    paid = pd.Series(tx[schema.PRICE].to_numpy()[rows]).groupby(tx_who).mean()
    paid = paid.reindex(np.arange(len(customers))).to_numpy()[who]
    out["price_ratio"] = (tables.article_price[at] / paid).astype(np.float32)
    return pd.DataFrame(out)


def feature_names() -> list[str]:
    """Names of the interaction features, in output order."""
    repeat = [f"{p}_{s}" for p in ("ca", "cp") for s in ("count", "count_4w", "days_since")]
    return [*repeat, *(f"aff_{a}" for a in AFFINITY_ATTRIBUTES), "price_ratio"]


def _keys(who: np.ndarray, code: np.ndarray, width: int) -> np.ndarray:
    """An int64 key ``who * width + code`` per (customer position, code); -1 where the code is
    null (negative)."""
    return np.where(code >= 0, who.astype(np.int64) * width + code, -1)


def _article_keys(who: np.ndarray, articles: np.ndarray) -> np.ndarray:
    """An int64 key per (customer position, article id): the id's 32 bits beside ``who``'s."""
    return (who.astype(np.int64) << 32) | (articles.astype(np.int64) & 0xFFFFFFFF)


def _repeat_features(
    prefix: str, keys: np.ndarray, queries: np.ndarray, days: np.ndarray
) -> dict[str, np.ndarray]:
    """``<prefix>_count``, ``_count_4w`` and ``_days_since`` of each query key among the
    purchases' ``keys`` (negative ones never match), ``days`` ago each."""
    kept = keys >= 0
    distinct, slot = np.unique(keys[kept], return_inverse=True)
    at = pd.Index(distinct).get_indexer(queries)  # -1 (absent) takes the last entry: none
    count = np.bincount(slot, minlength=len(distinct) + 1)
    recent = np.bincount(slot[days[kept] <= RECENT_DAYS], minlength=len(distinct) + 1)
    last = np.full(len(distinct) + 1, np.nan)
    last[:-1] = np.iinfo(days.dtype).max
    np.minimum.at(last, slot, days[kept])
    return {
        f"{prefix}_count": count[at].astype(np.float32),
        f"{prefix}_count_4w": recent[at].astype(np.float32),
        f"{prefix}_days_since": last[at].astype(np.float32),
    }


def _counts(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """How often each query occurs among ``keys`` (negative keys and queries: never)."""
    keys = keys[keys >= 0]
    space = int(max(keys.max(initial=-1), queries.max(initial=-1))) + 1
    if space <= DENSE_KEYS:  # one table over the whole key space
        table = np.bincount(keys, minlength=max(space, 1))
        return np.where(queries >= 0, table[np.maximum(queries, 0)], 0)
    distinct, count = np.unique(keys, return_counts=True)
    return np.append(count, 0)[pd.Index(distinct).get_indexer(queries)]  # -1 (absent): 0
