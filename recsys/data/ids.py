"""Customer ids: Kaggle's 64-hex strings <-> compact int64 keys.

The int64 key is the last 16 hex digits read as an unsigned 64-bit number and viewed as int64 (a
common, collision-free choice on the real H&M data). The lake keeps the full hex id next to it, so
the mapping is reversible; collisions are caught by validation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

HEX_LEN = 64
KEY_HEX_DIGITS = 16
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i


def hex_to_key(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised 64-hex -> int64 key; returns ``(keys, bad)`` where ``bad`` flags malformed ids."""
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if arr.type not in (pa.large_string(), pa.large_binary()):
        arr = arr.cast(pa.large_string())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if n and arr.buffers()[2] else None
    bad = np.diff(offsets) != HEX_LEN
    if arr.null_count:
        bad |= ~np.asarray(arr.is_valid())
    keys = np.zeros(n, dtype=np.uint64)
    good = np.flatnonzero(~bad)
    if len(good) == 0:
        return keys.view(np.int64), bad
    if len(good) == n:  # fast path: one contiguous (n, 64) block of bytes
        block = data[offsets[0] : offsets[0] + n * HEX_LEN].reshape(n, HEX_LEN)
    else:
        block = data[offsets[good][:, None] + np.arange(HEX_LEN, dtype=np.int64)]
    nibbles = _NIBBLE[block]
    invalid = nibbles.max(axis=1) == 255
    bad[good] = invalid
    tail = nibbles[:, HEX_LEN - KEY_HEX_DIGITS :]
    packed = np.ascontiguousarray((tail[:, 0::2] << 4) | tail[:, 1::2])
    keys[good] = np.where(invalid, 0, packed.view(">u8").ravel())
    return keys.view(np.int64), bad


def key_to_hex_suffix(key: int) -> str:
    """The last 16 hex digits of a customer id, from its int64 key (for messages)."""
    return format(int(key) & 0xFFFFFFFFFFFFFFFF, "016x")


def customer_key(hex_id: str) -> int:
    """The int64 key of one 64-hex customer id; ``ValueError`` if it is not 64 hex digits."""
    text = hex_id.strip().lower()
    if len(text) != HEX_LEN or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"customer_id must be {HEX_LEN} hex characters, got {hex_id!r}")
    return checked_key(text)


def checked_key(hex_id: str) -> int:
    """:func:`customer_key` of an id the caller has already checked to be 64 hex digits."""
    key = int(hex_id[-KEY_HEX_DIGITS:], 16)
    return key - (1 << 64) if key >= 1 << 63 else key
