"""Feast's SQLite online rows of many entities, expanded by SQLite itself from packed blocks.

Feast's SQLite table holds one row per (entity, feature): ~130M rows per cutoff at H&M scale,
where binding each row from Python (``executemany``) costs more than SQLite's insert. Here a
batch of entities is bound as a few blobs instead: the entity keys, every value's ValueProto
bytes and ``value_text`` bytes in fixed-width slots (one slot per feature, as wide as that
feature's longest value in the batch) and their lengths. One ``INSERT ... SELECT`` over
(entity, feature) pairs cuts the rows out with ``substr``, in primary-key order when the
entities are sorted by key and the features by name. The rows equal Feast's, except that a
null value has no row: Feast writes it as the empty ``ValueProto`` (``b""``), which its
readers turn into None, exactly as they do a feature with no row (a quarter of the customer
values at H&M scale are null). The value is the serialised ``ValueProto``, ``value_text`` is
``str`` of the value.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# 256 bytes 0..255: ``instr(LUT, byte) - 1`` is the byte's value in SQL
LUT = bytes(range(256))


@dataclass(frozen=True)
class Packed:
    """A batch of entities' rows as blobs (row ``i`` of a block is entity ``i``)."""

    n: int  # entities
    names: list[str]  # features, in the order of the slots (rows are inserted in this order)
    keys: bytes  # n x key_width entity keys
    key_width: int
    values: bytes  # n x sum(value_widths): ValueProto bytes, slot j of feature j
    value_widths: list[int]
    texts: bytes  # n x sum(text_widths): value_text UTF-8 bytes, slot j of feature j
    text_widths: list[int]
    lengths: bytes  # n x len(names) x 2 x length_bytes: (value, text) lengths, big-endian
    length_bytes: int


def float_texts(column: pa.Array) -> pa.Array:
    """``str(float(v))`` of each value (nulls stay null), vectorised.

    Arrow's cast writes the same shortest round-trip digits as Python's ``repr``, but formats
    differently: where Python writes fixed notation (1e-4 <= |v| < 1e16, or 0) and Arrow did
    too, only the ``.0`` of integral values is added; all other values use Python's ``str``.
    """
    values = column.cast(pa.float64())
    text = pc.cast(values, pa.string())
    magnitude = np.abs(values.fill_null(0).to_numpy(zero_copy_only=False))
    with np.errstate(invalid="ignore"):  # NaN: no text is written for it (a null value)
        fixed = ((magnitude >= 1e-4) & (magnitude < 1e16)) | (magnitude == 0) | np.isnan(magnitude)
    same = pc.and_kleene(pa.array(fixed), pc.invert(pc.match_substring(text, "e")))
    same = pc.fill_null(same, True)
    whole = pc.and_(same, pc.invert(pc.fill_null(pc.match_substring(text, "."), True)))
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    other = np.flatnonzero(~same.to_numpy(zero_copy_only=False))
    if len(other):
        python = [str(v) for v in values.take(pa.array(other)).to_pylist()]
        mask = np.zeros(len(values), dtype=bool)
        mask[other] = True
        text = pc.replace_with_mask(text, pa.array(mask), pa.array(python, pa.string()))
    return text


def value_texts(column: pa.Array) -> pa.Array:
    """``value_text`` as Feast's SQLite store fills it: ``str`` of the value (null: null)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    if pa.types.is_floating(column.type):
        return float_texts(column)
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())
    return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _big_endian(lengths: np.ndarray, width: int) -> np.ndarray:
    """Each length as ``width`` big-endian bytes (last axis)."""
    out = np.empty((*lengths.shape, width), dtype=np.uint8)
    for b in range(width):
        out[..., b] = (lengths >> (8 * (width - 1 - b))) & 0xFF
    return out


def _text_block(texts: list[pa.Array], widths: list[int], n: int) -> bytes:
    """The n x sum(widths) block of UTF-8 texts, each left in its slot, padded with spaces."""
    parts: list[pa.Array] = []
    for text, width in zip(texts, widths, strict=True):
        text = text.fill_null("")
        pad = width - pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
        parts += [text, pc.binary_repeat(pa.scalar(" "), pa.array(pad))]
    joined = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[joined.offset :][: n + 1]
    data = joined.buffers()[2]
    return data[int(offsets[0]) : int(offsets[-1])].to_pybytes()


def pack(
    keys: np.ndarray, names: list[str], values: list[tuple[np.ndarray, np.ndarray]], texts: list
) -> Packed:
    """Pack a batch: ``keys`` (n x key width bytes), per feature its ValueProto byte matrix and
    lengths (``materialize.value_matrix``) and its ``value_texts``."""
    n = len(keys)
    value_widths = [int(lengths.max(initial=0)) for _, lengths in values]
    block = np.zeros((n, sum(value_widths)), dtype=np.uint8)
    at = 0
    for (matrix, _), width in zip(values, value_widths, strict=True):
        block[:, at : at + width] = matrix[:, :width]
        at += width
    text_lengths = [pc.binary_length(t.fill_null("")).to_numpy(zero_copy_only=False) for t in texts]
    text_widths = [int(lengths.max(initial=0)) for lengths in text_lengths]
    lengths = np.stack(
        [np.stack([v[1] for v in values], axis=1), np.stack(text_lengths, axis=1)], axis=2
    ).astype(np.int64)
    length_bytes = max(1, (int(lengths.max(initial=0)).bit_length() + 7) // 8)
    return Packed(
        n,
        list(names),
        np.ascontiguousarray(keys).tobytes(),
        keys.shape[1],
        block.tobytes(),
        value_widths,
        _text_block(texts, text_widths, n),
        text_widths,
        _big_endian(lengths, length_bytes).tobytes(),
        length_bytes,
    )


def _length_sql(position: str, width: int) -> str:
    """SQL of the big-endian ``width``-byte length at 0-based byte ``position`` of ``:lengths``."""
    return " + ".join(
        f"(instr(:lut, substr(:lengths, {position} + {b + 1}, 1)) - 1) * {256 ** (width - 1 - b)}"
        for b in range(width)
    )


def insert_sql(table: str, packed: Packed) -> str:
    """The ``INSERT ... SELECT`` that expands ``packed`` into Feast's table ``table``."""
    f, lb = len(packed.names), packed.length_bytes
    slots = []
    value_row = text_row = 0  # slot offsets, then the widths of a whole entity's block row
    for j, (vw, tw) in enumerate(zip(packed.value_widths, packed.text_widths, strict=True)):
        slots.append(f"({j}, :name{j}, {value_row}, {text_row})")
        value_row, text_row = value_row + vw, text_row + tw
    at = f"(e.i * {f} + f.j) * {2 * lb}"
    value_len, text_len = _length_sql(at, lb), _length_sql(f"{at} + {lb}", lb)
    null = f"substr(:lengths, {at} + 1, {lb}) = x'{'00' * lb}'"  # an empty ValueProto
    return (
        f"WITH RECURSIVE e(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM e WHERE i + 1 < :n),"
        f" f(j, name, value_at, text_at) AS (VALUES {', '.join(slots)})"
        f' INSERT INTO "{table}"'
        " (entity_key, feature_name, value, value_text, event_ts, created_ts)"
        f" SELECT substr(:keys, e.i * :key_width + 1, :key_width), f.name,"
        f" substr(:values, e.i * {value_row} + f.value_at + 1, {value_len}),"
        f" CAST(substr(:texts, e.i * {text_row} + f.text_at + 1, {text_len}) AS TEXT),"
        f" :event_ts, :created_ts FROM e CROSS JOIN f WHERE NOT ({null})"
    )


def insert(
    conn: sqlite3.Connection, table: str, packed: Packed, event_ts: int, created_ts: int
) -> None:
    """Insert the rows of ``packed`` (entity-major, features in slot order) into ``table``; null
    values are left out."""
    if not packed.n:
        return
    params: dict[str, object] = {
        "n": packed.n,
        "lut": LUT,
        "keys": packed.keys,
        "key_width": packed.key_width,
        "values": packed.values,
        "texts": packed.texts,
        "lengths": packed.lengths,
        "event_ts": event_ts,
        "created_ts": created_ts,
    }
    params.update({f"name{j}": name for j, name in enumerate(packed.names)})
    conn.execute(insert_sql(table, packed), params)
