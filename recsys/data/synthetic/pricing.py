"""Prices: SEK list price points, markdowns, promotions and Kaggle's price text.

Kaggle's ``price`` is the SEK price divided by 590, cut (not rounded) after 16 decimals, e.g.
29.99 SEK -> ``0.0508305084745762``. All prices here are integer öre (SEK cents) until written.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

PRICE_DIVISOR_ORE = 59_000  # 590 SEK, in öre
DECIMALS = 16
MAX_ORE = PRICE_DIVISOR_ORE - 1  # keep every price below 1.0
PRICE_POINTS_ORE = np.array(
    [199, 299, 399, 499, 599, 699, 799, 899, 999, 1299, 1499, 1799, 1999, 2499, 2999, 3499]
    + [3999, 4499, 4999, 5999, 6999, 7999, 8999, 9999, 12999, 14999, 19999, 24999, 29999]
)
MARKDOWN_FACTORS = (1.0, 0.7, 0.5)  # list price, first and second markdown
PROMO_FACTOR = 0.9  # member / campaign price (e.g. 14.99 -> 13.49)
ONLINE_FACTOR = 0.85  # online-only offers


def snap_to_points(sek: np.ndarray) -> np.ndarray:
    """Nearest H&M price point (in log space) of each SEK amount, in öre."""
    logs = np.log(PRICE_POINTS_ORE)
    pos = np.searchsorted(logs, np.log(np.maximum(sek, 0.01) * 100))
    pos = np.clip(pos, 1, len(logs) - 1)
    left = np.log(sek * 100) - logs[pos - 1] < logs[pos] - np.log(sek * 100)
    return PRICE_POINTS_ORE[np.where(left, pos - 1, pos)]


def markdown(list_ore: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """Marked-down price (ends in .99) of list prices at markdown ``stage`` (0, 1, 2)."""
    factor = np.asarray(MARKDOWN_FACTORS)[stage]
    cut = np.floor(list_ore * factor)
    snapped = ((cut + 1) // 100) * 100 - 1
    return np.where(stage == 0, list_ore, np.maximum(snapped, 99)).astype(np.int64)


def discount(ore: np.ndarray, apply: np.ndarray, factor: float) -> np.ndarray:
    """``ore`` times ``factor`` (rounded to whole öre) where ``apply`` is true."""
    return np.where(apply, np.rint(ore * factor), ore).astype(np.int64)


def price_text(ore: int) -> str:
    """Kaggle's text of one price: ``ore / 59000`` cut after 16 decimals, as Python prints it."""
    scaled = ore * 10**DECIMALS // PRICE_DIVISOR_ORE
    whole, frac = divmod(scaled, 10**DECIMALS)
    return repr(float(f"{whole}.{frac:0{DECIMALS}d}"))


class PriceTexts:
    """Memoised öre -> Kaggle price text, vectorised over arrays."""

    def __init__(self) -> None:
        self._ore = np.zeros(0, dtype=np.int64)
        self._text = pa.array([], type=pa.string())

    def _extend(self, new: np.ndarray) -> None:
        """Add the texts of the (unique, unseen) öre values ``new``."""
        ore = np.concatenate([self._ore, new])
        text = pa.concat_arrays([self._text, pa.array([price_text(int(v)) for v in new])])
        order = np.argsort(ore, kind="stable")
        self._ore, self._text = ore[order], text.take(pa.array(order))

    def format(self, ore: np.ndarray) -> pa.Array:
        """Kaggle price texts of ``ore`` (any shape-1 int array)."""
        values = np.clip(ore, 1, MAX_ORE)
        unique = np.unique(values)
        known = np.isin(unique, self._ore, assume_unique=True)
        if not known.all():
            self._extend(unique[~known])
        return self._text.take(pa.array(np.searchsorted(self._ore, values)))
