"""Customer id mapping: 64-hex <-> int64 key."""

import pyarrow as pa

from recsys.data.ids import (
    checked_key,
    customer_key,
    hex_parts,
    hex_to_key,
    key_to_hex_suffix,
    lowercase_hex,
)

REAL = "000fe0cb78750fe7a65aa52943df29b6b781016fda241685fb814e2fc0f427a1"


def test_key_is_the_last_16_hex_digits_and_reversible_to_them():
    keys, bad = hex_to_key(pa.array([REAL, "f" * 64, "0" * 64]))
    assert not bad.any()
    assert key_to_hex_suffix(keys[0]) == REAL[-16:]
    assert keys[1] == -1 and keys[2] == 0


def test_malformed_ids_are_flagged_not_converted():
    ids = [REAL, "abc", None, "g" * 64, "G" * 64, REAL + "0"]
    keys, bad = hex_to_key(pa.array(ids))
    assert bad.tolist() == [False, True, True, True, True, True]
    assert (keys[bad] == 0).all()


def test_ids_are_case_insensitive_and_stored_lowercase():
    keys, bad = hex_to_key(pa.array([REAL, REAL.upper(), REAL[:10] + REAL[10:].upper()]))
    assert not bad.any() and len(set(keys.tolist())) == 1
    assert keys[0] == customer_key(REAL.upper())
    assert lowercase_hex(pa.array([REAL.upper(), REAL])).to_pylist() == [REAL, REAL]


def test_the_other_48_digits_tell_ids_with_one_key_apart():
    other = "f" + REAL[1:]
    keys, prefixes, bad = hex_parts(pa.array([REAL, other, REAL.upper(), "abc"]))
    assert bad.tolist() == [False, False, False, True]
    assert keys[0] == keys[1] == keys[2]
    assert prefixes[0] != prefixes[1] and prefixes[0] == prefixes[2]


def test_large_binary_input_gives_the_same_keys():
    as_text, _ = hex_to_key(pa.array([REAL] * 3))
    as_bytes, _ = hex_to_key(pa.array([REAL.encode()] * 3, pa.large_binary()))
    assert as_text.tolist() == as_bytes.tolist()


def test_one_id_gives_the_vectorised_key_with_or_without_the_check():
    ids = [REAL, "f" * 64, "0" * 64, "8" + "0" * 63, "0" * 48 + "8" + "0" * 15, "7" * 64]
    keys, _ = hex_to_key(pa.array(ids))
    assert [customer_key(i) for i in ids] == keys.tolist()
    assert [checked_key(i) for i in ids] == keys.tolist()
    assert checked_key(REAL.upper()) == customer_key(REAL.upper()) == keys[0]
