"""The ranker's feature matrix for one request, assembled from three sources without pandas.

A ranker feature comes from the precomputed candidate rows (union scores and ranks, interaction
features), from the customer's online row, or from the article table (all articles' online
features, encoded once per materialization in the ranker's order, strings as vocabulary codes).
:class:`FeatureLayout` maps each to its column once per model; :func:`assemble` then fills a
float32 matrix with three fancy-index copies. Values equal those of the batch path
(:func:`recsys.ranking.ranker.matrix` over the same rows); a test checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.features.online import Block


def encode(values: np.ndarray, vocab: list[str]) -> np.ndarray:
    """Strings -> float32 codes of ``vocab`` (unknown or null -> NaN), as the batch encodes them."""
    lookup = {v: float(i) for i, v in enumerate(vocab)}
    return np.array(
        [lookup.get(v, np.nan) if v is not None else np.nan for v in values], np.float32
    )


@dataclass(frozen=True)
class FeatureLayout:
    """Positions in the ranker's feature order, per source of values."""

    n_features: int
    block: tuple[np.ndarray, np.ndarray]  # (ranker positions, candidate-store columns)
    customer: tuple[np.ndarray, np.ndarray]  # (ranker positions, customer numeric columns)
    customer_strings: list[tuple[int, int, list[str]]]  # (position, string column, vocab)
    article: np.ndarray  # ranker positions filled from the article table, in table order
    article_columns: list[tuple[str, int, list[str] | None]]  # (kind n/s, column, vocab)

    @classmethod
    def build(
        cls,
        features: list[str],
        vocab: dict,
        store_columns: list[str],
        customer: Block,
        article: Block,
    ) -> FeatureLayout:
        """Map ``features`` to the store columns and the customer/article blocks' columns."""
        where = {name: i for i, name in enumerate(store_columns)}
        c_num = {n: i for i, n in enumerate(customer.names)}
        c_str = {n: i for i, n in enumerate(customer.string_names)}
        a_num = {n: i for i, n in enumerate(article.names)}
        a_str = {n: i for i, n in enumerate(article.string_names)}
        block, cust, cust_s, art, art_cols = [], [], [], [], []
        for pos, name in enumerate(features):
            if name in where:
                block.append((pos, where[name]))
            elif name in c_num:
                cust.append((pos, c_num[name]))
            elif name in c_str:
                cust_s.append((pos, c_str[name], list(vocab.get(name, []))))
            elif name in a_num:
                art.append(pos)
                art_cols.append(("n", a_num[name], None))
            elif name in a_str:
                art.append(pos)
                art_cols.append(("s", a_str[name], list(vocab.get(name, []))))
        return cls(
            len(features), _pairs(block), _pairs(cust), cust_s, np.array(art, np.intp), art_cols
        )

    def article_matrix(self, articles: Block) -> np.ndarray:
        """Every article's ranker columns (float32, strings encoded), in ``self.article`` order."""
        out = np.full((len(articles.found), len(self.article_columns)), np.nan, np.float32)
        for j, (kind, col, vocab) in enumerate(self.article_columns):
            if kind == "n":
                out[:, j] = articles.values[:, col]
            else:
                out[:, j] = encode(articles.strings[:, col], vocab or [])
        return out

    def customer_rows(self, customers: Block) -> np.ndarray:
        """Each customer's ranker values in ``self.customer`` then ``customer_strings`` order."""
        numeric = customers.values[:, self.customer[1]].astype(np.float32)
        strings = [encode(customers.strings[:, c], v) for _, c, v in self.customer_strings]
        return np.column_stack([numeric, *strings]).astype(np.float32, copy=False)


def _pairs(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Two index arrays from (position, column) pairs."""
    if not pairs:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    pos, col = zip(*pairs, strict=True)
    return np.array(pos, np.intp), np.array(col, np.intp)


def assemble(
    layout: FeatureLayout, block: np.ndarray, customer: np.ndarray, articles: np.ndarray
) -> np.ndarray:
    """The (candidates x features) float32 matrix.

    ``customer``: one row of :meth:`FeatureLayout.customer_rows` for all candidates, or one per
    candidate; ``articles``: article-table rows, one per candidate.
    """
    out = np.full((len(block), layout.n_features), np.nan, np.float32)
    out[:, layout.block[0]] = block[:, layout.block[1]]
    positions = np.r_[layout.customer[0], [p for p, _, _ in layout.customer_strings]]
    out[:, positions.astype(np.intp)] = customer
    out[:, layout.article] = articles
    return out
