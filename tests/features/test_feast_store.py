"""The Feast repo with real Feast: apply, materialize, historical and online reads.

Every store test runs twice: SQLite online store under a temporary home, and Redis (db 15 of the
server on 127.0.0.1:6379, flushed before and after; skipped when no server answers).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.features import materialize as mat
from recsys.features import store as st
from recsys.settings import Settings
from tests.conftest import redis_db

REDIS = "127.0.0.1:6379,db=15"
CUTOFFS = (dt.date(2020, 9, 2), dt.date(2020, 9, 9))
CUSTOMERS = np.arange(300, dtype=np.int64) * 7 + 1
ARTICLES = np.arange(200, dtype=np.int64) + 108_775_015


def write_snapshot(
    settings: Settings, kind: str, cutoff: dt.date, ids: np.ndarray, seed: int
) -> Path:
    """A random snapshot following the contract (10% nulls, some float NaN)."""
    rng = np.random.default_rng(seed)
    schema, n = mat.expected_schema(kind), len(ids)
    cols = [pa.array(ids).cast(schema.field(0).type)]
    cols.append(pa.array([mat.cutoff_datetime(cutoff)] * n, schema.field(1).type))
    for field in list(schema)[2:]:
        mask = rng.random(n) < 0.1
        if field.type == pa.string():
            values = pa.array([f"v{v}" for v in rng.integers(0, 4, n)], mask=mask)
        elif field.type == pa.float32():
            floats = rng.normal(size=n).astype(np.float32)
            floats[rng.random(n) < 0.05] = np.nan
            values = pa.array(floats, mask=mask)
        else:
            values = pa.array(rng.integers(-300, 3_000_000, n), mask=mask)
        cols.append(values.cast(field.type))
    path = mat.snapshot_path(settings, kind, cutoff)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(cols, schema=schema), path)
    return path


def snapshot_frame(settings: Settings, kind: str, cutoff: dt.date) -> pd.DataFrame:
    """A snapshot as pandas, indexed by its id."""
    frame = pq.read_table(mat.snapshot_path(settings, kind, cutoff)).to_pandas()
    return frame.set_index(st.KINDS[kind])


def same(got: object, want: object) -> bool:
    """Equal, where None / NaN (Feast stores NaN as null) match each other."""

    def null(x: object) -> bool:
        return x is None or x is pd.NA or (isinstance(x, float | np.floating) and np.isnan(x))

    return (null(got) and null(want)) or got == want


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest) -> str:
    """Which online store; Redis db 15 is flushed around the test."""
    if request.param == "redis":
        client = redis_db(15)
        request.addfinalizer(client.flushdb)
    return request.param


@pytest.fixture
def feast_home(tmp_path: Path, online: str) -> Settings:
    """A home with two weekly snapshots, the repo applied and the first cutoff materialized."""
    settings = Settings(home=tmp_path / "home", raw=None)
    for k, cutoff in enumerate(CUTOFFS):
        write_snapshot(settings, "customer", cutoff, CUSTOMERS, seed=k)
        write_snapshot(settings, "article", cutoff, ARTICLES, seed=10 + k)
    st.apply(settings, online, REDIS)
    mat.materialize(settings, CUTOFFS[0], online, REDIS, progress=False)
    return settings


def sdk_rows(settings: Settings, online: str, customer: int, articles: list[int]) -> dict:
    """``get_online_features`` of ranker_v1 for one customer and some articles."""
    store = st.open_store(settings, online, REDIS)
    rows = [{"customer_id": customer, "article_id": a} for a in articles]
    service = store.get_feature_service("ranker_v1")
    return store.get_online_features(features=service, entity_rows=rows).to_dict()


def test_encoding_is_feasts(feast_home: Settings, online: str) -> None:
    """The vectorised ValueProto / entity-key bytes equal Feast's own conversion."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.utils import _convert_arrow_fv_to_proto

    store = st.open_store(feast_home, online, REDIS)
    for kind, views in st.VIEWS.items():
        table = pq.read_table(mat.snapshot_path(feast_home, kind, CUTOFFS[0])).slice(0, 60)
        keys = mat.entity_keys(st.KINDS[kind], table.column(st.KINDS[kind]).to_numpy())
        for name in views:
            view = store.get_feature_view(name)
            join = {st.KINDS[kind]: view.entity_columns[0].dtype.to_value_type()}
            ours = {f.name: mat.encode_values(table.column(f.name)) for f in view.features}
            for i, (key, values, _, _) in enumerate(_convert_arrow_fv_to_proto(table, view, join)):
                assert serialize_entity_key(key, 3) == keys[i]
                for feature, value in values.items():
                    assert value.SerializeToString() == ours[feature][i], (feature, i)


def test_online_sdk_and_fast_path_agree_with_snapshot(feast_home: Settings, online: str) -> None:
    """get_online_features and OnlineFeatures return the materialized snapshot's values."""
    from recsys.features.online import OnlineFeatures

    customers = snapshot_frame(feast_home, "customer", CUTOFFS[0])
    articles = snapshot_frame(feast_home, "article", CUTOFFS[0])
    cid, aids = int(CUSTOMERS[5]), [int(a) for a in ARTICLES[[0, 7, 199, 3]]] + [42]
    sdk = sdk_rows(feast_home, online, cid, aids)
    fast = OnlineFeatures(feast_home, online, REDIS).get(cid, aids)
    for block, frame, keys in ((fast.customer, customers, [cid]), (fast.articles, articles, aids)):
        for i, key in enumerate(keys):
            known = key in frame.index
            assert block.found[i] == known
            for j, name in enumerate(block.names):
                want = frame.at[key, name] if known else None
                assert same(sdk[name][i if block is fast.articles else 0], want), name
                assert same(block.values[i, j], want), (name, key)
            for j, name in enumerate(block.string_names):
                want = frame.at[key, name] if known else None
                assert same(block.strings[i, j], want), (name, key)


def test_fast_path_reloads_after_materialize(feast_home: Settings, online: str) -> None:
    """A new materialization changes the version stamp; the article cache follows it."""
    from recsys.features.online import OnlineFeatures

    reader = OnlineFeatures(feast_home, online, REDIS, refresh_s=0.0)
    aid = int(ARTICLES[11])
    before = reader.articles([aid]).values.copy()
    version = reader.version
    mat.materialize(feast_home, CUTOFFS[1], online, REDIS, progress=False)
    after = reader.articles([aid])
    assert reader.version != version
    frame = snapshot_frame(feast_home, "article", CUTOFFS[1])
    for j, name in enumerate(after.names):
        assert same(after.values[0, j], frame.at[aid, name]), name
    assert not np.array_equal(before, after.values, equal_nan=True)


def test_historical_is_point_in_time(feast_home: Settings, online: str) -> None:
    """Rows inside week k get snapshot k; before the first cutoff or past the TTL: nulls."""
    from recsys.features.historical import historical_features

    stamps = [
        "2020-09-02",
        "2020-09-08T23:59",
        "2020-09-09",
        "2020-09-15T12:00",
        "2020-09-01",
        "2020-09-20",
    ]
    expected = [CUTOFFS[0], CUTOFFS[0], CUTOFFS[1], CUTOFFS[1], None, None]
    entity_df = pd.DataFrame(
        {
            "customer_id": CUSTOMERS[[3, 3, 4, 5, 6, 7]],
            "article_id": ARTICLES[[9, 9, 10, 11, 12, 13]].astype(np.int32),
            "event_timestamp": pd.to_datetime(stamps, format="ISO8601"),
            "label": [1, 0, 1, 0, 1, 0],
        }
    )
    out = historical_features(feast_home, entity_df, online=online)
    assert len(out) == len(entity_df)
    assert out["label"].tolist() == entity_df["label"].tolist()
    for i, cutoff in enumerate(expected):
        for kind in ("customer", "article"):
            key = int(out.at[i, st.KINDS[kind]])
            frame = snapshot_frame(feast_home, kind, cutoff) if cutoff else None
            for name in [c for c in out.columns if c.startswith(kind[0] + "_")]:
                want = frame.at[key, name] if frame is not None else None
                assert same(out.at[i, name], want), (i, name)


def test_grouped_retrieval_equals_plain_feast(feast_home: Settings, online: str) -> None:
    """Grouping rows by snapshot gives exactly what one plain get_historical_features gives."""
    from recsys.features.historical import historical_features, prepare_entity_df, restore_rows

    rng = np.random.default_rng(3)
    start = pd.Timestamp("2020-08-31")
    hours = rng.integers(0, 20 * 24, 150)
    hours[:10] = [48, 48 + 168, 47, 49, 48 + 167, 48 + 168 * 2, 0, 1, 2, 3]  # around the cutoffs
    entity_df = pd.DataFrame(
        {
            "customer_id": rng.choice(CUSTOMERS, 150),
            "article_id": rng.choice(ARTICLES, 150),
            "event_timestamp": start + pd.to_timedelta(hours, "h"),
        }
    )
    ours = historical_features(feast_home, entity_df, online=online)
    store = st.open_store(feast_home, online, REDIS)
    df = prepare_entity_df(entity_df)
    job = store.get_historical_features(df, features=store.get_feature_service("ranker_v1"))
    plain = restore_rows(df, job.to_df())
    pd.testing.assert_frame_equal(ours, plain[ours.columns], check_dtype=False)


@pytest.mark.parametrize("damage", ["missing", "dtype", "column"])
def test_bad_snapshot_leaves_online_store_alone(
    feast_home: Settings, online: str, damage: str
) -> None:
    """A missing or invalid snapshot raises, naming the file, before anything is written."""
    cutoff = CUTOFFS[1]
    path = mat.snapshot_path(feast_home, "article", cutoff)
    if damage == "missing":
        path.unlink()
    else:
        table = pq.read_table(path)
        if damage == "dtype":
            table = table.set_column(2, table.field(2).name, table.column(2).cast(pa.float64()))
        else:
            table = table.drop_columns([table.column_names[-1]])
        pq.write_table(table, path)
    store = st.open_store(feast_home, online, REDIS)
    stamp = st.read_stamp(store, feast_home)
    before = sdk_rows(feast_home, online, int(CUSTOMERS[1]), [int(a) for a in ARTICLES[:5]])
    with pytest.raises(mat.SnapshotError, match=str(path)):
        mat.materialize(feast_home, cutoff, online, REDIS, progress=False)
    after = sdk_rows(feast_home, online, int(CUSTOMERS[1]), [int(a) for a in ARTICLES[:5]])
    assert st.read_stamp(store, feast_home) == stamp
    assert before.keys() == after.keys()
    for name in before:
        assert all(same(a, b) for a, b in zip(before[name], after[name], strict=True)), name


def sqlite_rows(path: Path) -> list[tuple]:
    """Every online row of a SQLite online store, timestamps and created_ts left out."""
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if r[0] != st.STAMP_TABLE  # ours (the stamp), not Feast's
        ]
        return sorted(
            (t, *row)
            for t in tables
            for row in conn.execute(
                f'SELECT entity_key, feature_name, value, value_text, event_ts FROM "{t}"'
            )
        )


def test_sqlite_rows_equal_feast_materialize(tmp_path: Path) -> None:
    """The fast path writes exactly the rows `FeatureStore.materialize` writes, but for null
    values (Feast's empty ``ValueProto``), which have no row."""
    homes = [Settings(home=tmp_path / name, raw=None) for name in ("feast", "fast")]
    for settings in homes:
        write_snapshot(settings, "customer", CUTOFFS[0], CUSTOMERS[:40], seed=0)
        write_snapshot(settings, "article", CUTOFFS[0], ARTICLES[:30], seed=1)
        st.apply(settings)
    start = mat.cutoff_datetime(CUTOFFS[0])
    st.open_store(homes[0]).materialize(start, start + dt.timedelta(days=1))
    mat.materialize(homes[1], CUTOFFS[0], progress=False)
    feast, fast = (sqlite_rows(h.paths.feast / "online_store.db") for h in homes)
    assert len(feast) == (40 * 92 + 30 * 53)
    nulls = [row for row in feast if row[3] == b""]
    assert len(nulls) > 0.1 * len(feast)  # the snapshots' nulls and NaNs
    assert fast == [row for row in feast if row[3] != b""]


def assert_clustered(path: Path) -> None:
    """Feast's tables in ``path`` are ``WITHOUT ROWID``, their ``<table>_ek`` index an empty
    placeholder, and Feast's read by entity key searches the primary key."""
    with sqlite3.connect(path) as conn:
        for view in (v for views in st.VIEWS.values() for v in views):
            (table, sql) = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
                (f"%{view}",),
            ).fetchone()
            assert sql.endswith("WITHOUT ROWID"), sql
            (index,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (f"{table}_ek",)
            ).fetchone()
            assert index.endswith("WHERE 0"), index
            query = f'SELECT * FROM "{table}" WHERE entity_key IN (?, ?) ORDER BY entity_key'
            plan = " ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {query}", (1, 2)))
            assert f"SEARCH {table} USING PRIMARY KEY (entity_key=?)" in plan, plan


@pytest.mark.parametrize("online", ["sqlite"], indirect=True)
def test_sqlite_tables_are_clustered_on_the_primary_key(feast_home: Settings) -> None:
    """The layout (:func:`assert_clustered`) is kept by `feast apply`, and Feast's own upserting
    `materialize` still writes into it."""
    st.apply(feast_home)  # Feast's update on the live database: CREATE ... IF NOT EXISTS
    assert_clustered(feast_home.paths.feast / "online_store.db")
    cid, aids = int(CUSTOMERS[3]), [int(a) for a in ARTICLES[:5]]
    before = sdk_rows(feast_home, "sqlite", cid, aids)
    start = mat.cutoff_datetime(CUTOFFS[0])
    st.open_store(feast_home).materialize(start, start + dt.timedelta(days=1))
    after = sdk_rows(feast_home, "sqlite", cid, aids)
    assert after.keys() == before.keys()
    for name, values in before.items():
        assert all(same(a, b) for a, b in zip(after[name], values, strict=True)), name


def test_a_database_feast_wrote_is_replaced_clustered(tmp_path: Path) -> None:
    """Over a live database of Feast's own layout (rowid tables, full ``_ek`` indexes), a
    materialization writes the clustered layout, and the SDK reads the new cutoff."""
    settings = Settings(home=tmp_path / "home", raw=None)
    for k, cutoff in enumerate(CUTOFFS):
        write_snapshot(settings, "customer", cutoff, CUSTOMERS[:30], seed=k)
        write_snapshot(settings, "article", cutoff, ARTICLES[:20], seed=10 + k)
    st.apply(settings)
    start = mat.cutoff_datetime(CUTOFFS[0])
    st.open_store(settings).materialize(start, start + dt.timedelta(days=1))
    mat.materialize(settings, CUTOFFS[1], progress=False)
    assert_clustered(settings.paths.feast / "online_store.db")
    customers = snapshot_frame(settings, "customer", CUTOFFS[1])
    got = sdk_rows(settings, "sqlite", int(CUSTOMERS[2]), [int(ARTICLES[4])])
    for name in customers.columns.drop("event_timestamp"):
        assert same(got[name][0], customers.at[int(CUSTOMERS[2]), name]), name


def test_feast_cli_from_feature_repo(tmp_path: Path) -> None:
    """`feast apply` and `feast materialize` work from feature_repo/ with HM_HOME exported."""
    settings = Settings(home=tmp_path / "home", raw=None)
    write_snapshot(settings, "customer", CUTOFFS[0], CUSTOMERS[:20], seed=0)
    write_snapshot(settings, "article", CUTOFFS[0], ARTICLES[:20], seed=1)
    env = {**os.environ, "HM_HOME": str(settings.paths.root), "FEAST_USAGE": "False"}
    feast = [sys.executable, "-m", "feast.cli.cli"]
    repo = st.REPO_DIR
    for args in (["apply"], ["materialize", "2020-09-02T00:00:00", "2020-09-03T00:00:00"]):
        done = subprocess.run([*feast, *args], cwd=repo, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (settings.paths.feast / "registry.db").is_file()
    sdk = sdk_rows(settings, "sqlite", int(CUSTOMERS[2]), [int(ARTICLES[3])])
    frame = snapshot_frame(settings, "customer", CUTOFFS[0])
    assert same(sdk["c_n_tx_4w"][0], frame.at[int(CUSTOMERS[2]), "c_n_tx_4w"])
