"""Customer id mapping: 64-hex <-> int64 key."""

import pyarrow as pa

from recsys.data.ids import checked_key, customer_key, hex_to_key, key_to_hex_suffix

REAL = "000fe0cb78750fe7a65aa52943df29b6b781016fda241685fb814e2fc0f427a1"


def test_key_is_the_last_16_hex_digits_and_reversible_to_them():
    keys, bad = hex_to_key(pa.array([REAL, "f" * 64, "0" * 64]))
    assert not bad.any()
    assert key_to_hex_suffix(keys[0]) == REAL[-16:]
    assert keys[1] == -1 and keys[2] == 0


def test_malformed_ids_are_flagged_not_converted():
    ids = [REAL, "abc", None, "g" * 64, REAL.upper(), REAL + "0"]
    keys, bad = hex_to_key(pa.array(ids))
    assert bad.tolist() == [False, True, True, True, True, True]
    assert (keys[bad] == 0).all()


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
