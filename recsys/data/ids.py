"""Customer ids: Kaggle's 64-hex strings <-> compact int64 keys.

Ids are case-insensitive: ``ABC..`` and ``abc..`` are one customer, and ids are lowercased on the
way in (the lake's ``customer_hex`` holds lowercase hex; :func:`customer_key` lowercases too).

The int64 key is the last 16 hex digits read as an unsigned 64-bit number and viewed as int64 (a
common, collision-free choice on the real H&M data). The lake keeps the full hex id next to it, so
the mapping is reversible. A 64-bit hash of the other 48 digits (:func:`hex_parts`) lets ingest
refuse a transaction whose id shares a known customer's key but not its full id, and validation
refuses two customers sharing a key.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEX_LEN = 64
KEY_HEX_DIGITS = 16
# odd multipliers mixing the six 8-byte words of the first 48 digits into one 64-bit hash
_MIX = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
    ],
    dtype=np.uint64,
)
_FOLD = np.uint64(0x2020202020202020)  # sets the 0x20 bit of each byte: A-F -> a-f
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _NIBBLE[ord(chr(_c).upper())] = _i
_UPPER = np.zeros(256, dtype=bool)
_UPPER[np.frombuffer(b"ABCDEF", np.uint8)] = True


def hex_to_key(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised 64-hex -> int64 key; returns ``(keys, bad)`` where ``bad`` flags malformed ids."""
    keys, _, bad = hex_parts(ids, prefix=False)
    return keys, bad


def hex_parts(
    ids: pa.Array | pa.ChunkedArray, prefix: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(keys, prefixes, bad)`` of 64-hex ids, either case: the int64 keys, a 64-bit hash of
    the first 48 digits (lowercased; zeros unless ``prefix``), and the malformed ids."""
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
    hashes = np.zeros(n, dtype=np.uint64)
    good = np.flatnonzero(~bad)
    if len(good) == 0:
        return keys.view(np.int64), hashes, bad
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
    if prefix:
        hashes[good] = np.where(invalid, 0, _prefix_hash(block))
    return keys.view(np.int64), hashes, bad


def _prefix_hash(block: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's first 48 hex digits (ASCII, case folded by the 0x20 bit)."""
    words = block[:, : HEX_LEN - KEY_HEX_DIGITS].view("<u8")  # (n, 6), rows stay in place
    hashes = np.zeros(len(block), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, mix in enumerate(_MIX):
            hashes += (words[:, i] | _FOLD) * mix
    return hashes


def lowercase_hex(ids: pa.Array) -> pa.Array:
    """The ids in lowercase (the stored form); returned as is when none has an uppercase digit."""
    arr = ids.cast(pa.large_string()) if ids.type != pa.large_string() else ids
    if len(arr) == 0 or arr.buffers()[2] is None:
        return ids
    offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1, arr.offset * 8)
    data = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return pc.utf8_lower(ids) if _UPPER[data].any() else ids


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
