"""Bulk-built HSET commands are byte for byte redis-py's; every reply is read, errors raise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from recsys.features import redis_rows
from tests.conftest import redis_db


def binary(rows: list[bytes]) -> pa.Array:
    """``rows`` through :func:`redis_rows.binary_array` (a zero-padded matrix and lengths)."""
    matrix = np.array([list(r.ljust(400, b"\x00")) for r in rows], dtype=np.uint8)
    return redis_rows.binary_array(matrix, np.array([len(r) for r in rows]))


def test_commands_equal_redis_py_packing() -> None:
    """The RESP bytes equal ``Connection.pack_command`` of ``HSET key f v ... ts tsv`` of each
    entity's non-empty values (an empty value is a null's ValueProto)."""
    from redis.connection import Connection

    keys = [b"k\x00\r\n1", b"key-2", b""]
    fields = [b"\x01\x02\x03\x04", b"f2"]
    values = [[b"5\x00\x00\x80?", b"", b"\r\n"], [b"\x18" + bytes(range(10)), b"", b"b" * 300]]
    extra = {b"_ts:view": b"\x08\x01"}
    got = redis_rows.hset_commands(
        binary(keys), fields, [binary(column) for column in values], extra
    )
    conn = Connection()
    want = b""
    for i, key in enumerate(keys):
        args = [key]
        for field, column in zip(fields, values, strict=True):
            if column[i]:
                args += [field, column[i]]
        args += [b"_ts:view", b"\x08\x01"]
        want += b"".join(conn.pack_command("HSET", *args))
    assert got == want


def test_send_reads_every_reply_and_raises_on_an_error() -> None:
    """All commands run; an error reply raises after the rest were read (connection reusable)."""
    client = redis_db(12)
    try:
        client.set(b"plain", b"x")
        keys = [b"h1", b"plain", b"h2"]
        col = pa.array([b"v1", b"v2", b"v3"], pa.large_binary())
        commands = redis_rows.hset_commands(pa.array(keys, pa.large_binary()), [b"f"], [col], {})
        with pytest.raises(Exception, match="WRONGTYPE"):
            redis_rows.send(client, commands, 3)
        assert client.hget(b"h1", b"f") == b"v1" and client.hget(b"h2", b"f") == b"v3"
        redis_rows.send(client, commands[: commands.index(b"*", 1)], 1)
        assert client.ping()
    finally:
        client.flushdb()
