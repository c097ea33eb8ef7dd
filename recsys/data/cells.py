"""From CSV cell text to typed values: what each column type accepts, and which cells it refuses.

- integers: optional ``-`` and decimal digits (leading zeros allowed, ``0108775015``), or an
  exactly integral decimal such as ``2.0`` or ``2.00`` (stored as 2); ``2.5``, ``+2``, `` 2``,
  ``1e3`` and hex such as ``0x2`` are refused, as are values outside the column's type;
- dates: ISO ``YYYY-MM-DD`` of a real day (``2020-03-25``); ``2020-3-25``, ``25/03/2020`` or a
  time of day are refused;
- floats: what Arrow parses (``0.05``, ``.5``, ``5e-2``, ``nan``, ``inf``; validation bounds them);
- empty cells are missing values, never errors here.

:func:`parse` returns the typed array, or the positions of every refused cell: the positions are
computed by the same rule that accepts, so a refusal always names its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INTEGER = r"^-?[0-9]+(\.0+)?$"
INTEGRAL_ZEROS = r"\.0+$"
DIGIT_RANGE = (ord("0"), ord("9"))
HINTS = {
    "int": "integers are written as digits, optionally as an integral decimal such as 2.0",
    "date": "dates are written as ISO YYYY-MM-DD, e.g. 2020-03-25",
}


@dataclass(frozen=True)
class Parsed:
    """A column's typed values, or the positions of the cells its type refuses."""

    values: pa.Array | None
    refused: np.ndarray
    hint: str | None = None


def parse(text: pa.Array, target: pa.DataType) -> Parsed:
    """``text`` (UTF-8 strings, nulls for empty cells) as ``target`` under the rules above."""
    if pa.types.is_integer(target):
        return _integers(text, target)
    hint = HINTS["date"] if pa.types.is_date(target) else None
    try:
        return Parsed(text.cast(target), np.empty(0, np.int64))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return Parsed(None, _refused(text, target), hint)


def _integers(text: pa.Array, target: pa.DataType) -> Parsed:
    """Integers: digits only (the fast path, Arrow casts them exactly), else the grammar checked
    first (Arrow's cast alone would take hex) and integral decimals cut to their digits."""
    if _only_digits(text):
        try:
            return Parsed(text.cast(target), np.empty(0, np.int64))
        except pa.ArrowInvalid:
            pass  # out of the type's range: found below
    shaped = pc.fill_null(pc.match_substring_regex(text, INTEGER), True)
    digits = pc.if_else(shaped, pc.replace_substring_regex(text, INTEGRAL_ZEROS, ""), None)
    refused = np.flatnonzero(~shaped.to_numpy(zero_copy_only=False))
    refused = np.union1d(refused, _refused(digits, target)).astype(np.int64)
    if len(refused):
        return Parsed(None, refused, HINTS["int"])
    return Parsed(digits.cast(target), refused)


def _only_digits(text: pa.Array) -> bool:
    """Whether every byte of the values is a decimal digit (a bound check of the data buffer)."""
    n = len(text)
    if n == 0 or text.null_count == n:
        return True
    if not pa.types.is_large_string(text.type):
        text = text.cast(pa.large_string())
    offsets = np.frombuffer(text.buffers()[1], np.int64, n + 1, text.offset * 8)
    data = np.frombuffer(text.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return len(data) == 0 or (data.min() >= DIGIT_RANGE[0] and data.max() <= DIGIT_RANGE[1])


def _refused(text: pa.Array, target: pa.DataType) -> np.ndarray:
    """Positions of the non-null values Arrow's cast to ``target`` refuses (each distinct value
    is tried, by halves, so a few bad values among many cost a few casts)."""
    distinct = pc.unique(text.drop_null())
    bad = _refused_values(distinct, target)
    if not bad:
        return np.empty(0, np.int64)
    hit = pc.is_in(text, value_set=pa.array(bad, text.type))
    return np.flatnonzero(pc.fill_null(hit, False).to_numpy(zero_copy_only=False))


def _refused_values(values: pa.Array, target: pa.DataType) -> list:
    """The values among ``values`` whose cast to ``target`` fails."""
    try:
        values.cast(target)
        return []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return [values[0].as_py()]
    half = len(values) // 2
    return _refused_values(values[:half], target) + _refused_values(values[half:], target)
