"""SQLite expands packed blocks into exactly the rows Feast's own writer would bind one by one,
but for null values, which get no row."""

from __future__ import annotations

import sqlite3

import numpy as np
import pyarrow as pa
import pytest

from recsys.features import materialize as mat
from recsys.features import sqlite_rows

EDGES = [0.0, -0.0, 1.0, 2.5, 1e15, 1e16, 9999999999999998.0, 1e-4, 9.99e-5, 1e-5, 1e-45, 3e38]
EDGES += [float("inf"), float("-inf"), 16777216.0, 123456.7, -1e-7, 1e22]


def test_float_texts_equal_python_str() -> None:
    """``value_text`` of floats is ``str`` of the float64 value, over all magnitudes."""
    rng = np.random.default_rng(0)
    parts = [
        rng.random(20_000, dtype=np.float32),
        (10.0 ** rng.uniform(-45, 38, 20_000)).astype(np.float32) * rng.choice([-1, 1], 20_000),
        rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        rng.integers(-1000, 1000, 2_000).astype(np.float32),
        np.array(EDGES, dtype=np.float32),
    ]
    with np.errstate(invalid="ignore"):  # the random bit patterns include NaNs
        values = np.concatenate([p.astype(np.float64) for p in parts])
    values = values[~np.isnan(values)]
    column = pa.array(
        np.concatenate([values, np.array(EDGES)]), mask=np.arange(len(values) + len(EDGES)) % 7 == 0
    )
    got = sqlite_rows.float_texts(column).to_pylist()
    want = [None if v is None else str(v) for v in column.to_pylist()]
    assert got == want


@pytest.mark.parametrize("dtype", [pa.int32(), pa.int64()])
def test_int_texts_equal_python_str(dtype: pa.DataType) -> None:
    """Integers' ``value_text`` is ``str`` of the value; nulls stay null."""
    values = pa.array([0, -1, 127, 128, -(2**31), 2**31 - 1, None], pa.int64()).cast(dtype)
    assert sqlite_rows.value_texts(values).to_pylist() == [
        None if v is None else str(v) for v in values.to_pylist()
    ]


FEAST_DDL = (
    'CREATE TABLE "t" (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT,'
    " vector_value BLOB, event_ts timestamp, created_ts timestamp,"
    " PRIMARY KEY(entity_key, feature_name))"
)


def reference_rows(table: pa.Table, names: list[str]) -> list[tuple]:
    """The rows Feast's SQLite writer binds, (key, name, ValueProto bytes, str(value)), less the
    null values' (an empty ValueProto)."""
    keys = mat.entity_keys("customer_id", table.column("customer_id").to_numpy())
    out = []
    for i, key in enumerate(keys):
        for name in names:
            raw = mat.encode_values(table.column(name))[i]
            value = table.column(name)[i].as_py()
            if isinstance(value, float):
                value = float(value)
            if raw:
                out.append((key, name, raw, str(value), 7, 9))
    return out


def test_packed_rows_equal_row_by_row_rows() -> None:
    """Floats, ints, strings (empty, non-ASCII, over 255 bytes), nulls and NaN: the expanded
    rows, their types and their order equal the row-by-row ones; nulls and NaN have no row."""
    rng = np.random.default_rng(1)
    n = 500
    floats = rng.normal(size=n).astype(np.float32)
    floats[::11] = np.nan
    floats[: len(EDGES)] = EDGES
    strings = ["ACTIVE", "", "Ünïcode ✓", "x" * 300, None]
    table = pa.table(
        {
            "customer_id": pa.array(np.sort(rng.choice(10**9, n, replace=False))),
            "a_float": pa.array(floats, mask=rng.random(n) < 0.1),
            "b_int": pa.array(
                rng.integers(-(2**31), 2**31, n), pa.int64(), mask=rng.random(n) < 0.1
            ),
            "c_small": pa.array(rng.integers(-5, 300, n).astype(np.int32)),
            "d_text": pa.array([strings[k] for k in rng.integers(0, 5, n)], pa.string()),
        }
    )
    table = table.take(mat.key_order(table.column("customer_id").to_numpy()))
    names = ["a_float", "b_int", "c_small", "d_text"]
    keys = mat.entity_key_matrix("customer_id", table.column("customer_id").to_numpy())
    values = [mat.value_matrix(table.column(f)) for f in names]
    texts = [sqlite_rows.value_texts(table.column(f).combine_chunks()) for f in names]
    packed = sqlite_rows.pack(keys, names, values, texts)
    assert packed.length_bytes == 2  # the 300-byte string needs two bytes
    conn = sqlite3.connect(":memory:")
    conn.execute(FEAST_DDL)
    sqlite_rows.insert(conn, "t", packed, 7, 9)
    got = conn.execute(
        "SELECT entity_key, feature_name, value, value_text, event_ts, created_ts,"
        " typeof(value), typeof(value_text) FROM t ORDER BY rowid"
    ).fetchall()
    want = reference_rows(table, names)
    assert [g[:6] for g in got] == want
    assert len(got) < 0.95 * n * len(names)  # the nulls and NaNs are left out
    assert {g[6] for g in got} == {"blob"}
    assert {g[7] for g in got} == {"text"}


def test_empty_batch_inserts_nothing() -> None:
    """A batch of no entities is a no-op."""
    conn = sqlite3.connect(":memory:")
    conn.execute(FEAST_DDL)
    keys = np.zeros((0, 41), dtype=np.uint8)
    column = pa.array([], pa.float32())
    packed = sqlite_rows.pack(
        keys, ["x"], [mat.value_matrix(column)], [sqlite_rows.value_texts(column)]
    )
    sqlite_rows.insert(conn, "t", packed, 1, 2)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
