"""Materialization publishes atomically: both views switch to the new cutoff together or not at
all, and the stamp always names what is served.

A real ``materialize`` in a child process is paused at a chosen point (after one view, after the
customers, just before the switch) and killed there with SIGKILL; the previous cutoff must stay
served, whole, to a reader opened before and to a fresh one; a re-run then switches both views.
Runs on SQLite and on Redis (db 13 of the local server, flushed; skipped when none answers).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.features import materialize as mat
from recsys.features import store as st
from recsys.features.snapshots import snapshot_version
from recsys.settings import Settings
from tests.conftest import redis_db
from tests.features.test_feast_store import snapshot_frame, write_snapshot

REDIS = "127.0.0.1:6379,db=13"
CUTOFFS = (dt.date(2020, 9, 2), dt.date(2020, 9, 9))
CUSTOMERS = np.arange(2_000, dtype=np.int64) * 3 + 5
ARTICLES = np.arange(300, dtype=np.int64) + 108_775_015
SAMPLE_C = [int(c) for c in CUSTOMERS[::97]]
SAMPLE_A = [int(a) for a in ARTICLES[::13]]


def paused_materialize(settings: Settings, cutoff: dt.date, online: str, pause: str, tell) -> None:
    """Materialize (in a forked child), stopping where ``pause`` says: after the view of that
    name was written, or at ``switch``: everything written, just before the switch (SQLite: the
    new file's fsync; Redis: the stamp's encoding, then its SET). Sends the marker, then sleeps."""
    from feast import FeatureView

    def stop(marker: str) -> None:
        tell.send(marker)
        time.sleep(600)

    def after_view(orig):
        def hooked(*args, **kwargs):
            orig(*args, **kwargs)
            if next(a for a in args if isinstance(a, FeatureView)).name == pause:
                stop(pause)

        return hooked

    def before_switch(orig):
        def hooked(*args, **kwargs):
            out = orig(*args, **kwargs)
            stop("switch")
            return out

        return hooked

    for name in ("_write_sqlite", "_write_redis"):
        setattr(mat, name, after_view(getattr(mat, name)))
    if pause == "switch":
        for name in ("fsync", "encode_redis_stamp"):
            if hasattr(mat, name):
                setattr(mat, name, before_switch(getattr(mat, name)))
    mat.materialize(settings, cutoff, online, REDIS, progress=False)
    tell.send("done")


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest) -> str:
    """Which online store; Redis db 13 is flushed around the test."""
    if request.param == "redis":
        client = redis_db(13)
        request.addfinalizer(client.flushdb)
    return request.param


@pytest.fixture
def home(tmp_path: Path, online: str) -> Settings:
    """Two cutoffs of random snapshots, the repo applied, the first cutoff materialized."""
    settings = Settings(home=tmp_path / "home", raw=None)
    for k, cutoff in enumerate(CUTOFFS):
        write_snapshot(settings, "customer", cutoff, CUSTOMERS, seed=20 + k)
        write_snapshot(settings, "article", cutoff, ARTICLES, seed=30 + k)
    st.apply(settings, online, REDIS)
    mat.materialize(settings, CUTOFFS[0], online, REDIS, progress=False)
    return settings


def expected(frame: pd.DataFrame, ids: list[int], names: list[str]) -> np.ndarray:
    """The snapshot's values of ``names`` for ``ids`` as objects, None for null/NaN."""
    values = frame.loc[ids, names].astype(object).to_numpy()
    return np.where(pd.isna(values), None, values)


def served_cutoff(settings: Settings, block, kind: str, ids: list[int]) -> dt.date | None:
    """The cutoff whose snapshot equals ``block`` in every value (None: a mix, or neither)."""
    got = np.concatenate([block.values.astype(object), block.strings.astype(object)], axis=1)
    return cutoff_of(settings, got, kind, ids, [*block.names, *block.string_names])


def sdk_cutoff(settings: Settings, sdk, kind: str, ids: list[int]) -> dt.date | None:
    """The cutoff whose snapshot equals what ``get_online_features`` of ``sdk`` returns."""
    service = sdk.get_feature_service(f"{kind}_v1")
    rows = [{st.KINDS[kind]: i} for i in ids]
    got = sdk.get_online_features(features=service, entity_rows=rows).to_dict()
    names = [n for n in got if n != st.KINDS[kind]]
    return cutoff_of(settings, np.array([got[n] for n in names], dtype=object).T, kind, ids, names)


def cutoff_of(settings: Settings, got: np.ndarray, kind: str, ids: list[int], names: list[str]):
    """The cutoff whose snapshot has ``got`` as the values of ``names`` for ``ids`` (or None)."""
    got = np.where(pd.isna(got), None, got)
    for cutoff in CUTOFFS:
        frame = snapshot_frame(settings, kind, cutoff)
        want = expected(frame, ids, names)
        if all(
            (g is None and w is None) or (g is not None and w is not None and g == w)
            for g, w in zip(got.ravel(), want.ravel(), strict=True)
        ):
            return cutoff
    return None


def assert_serves(
    settings: Settings, online: str, cutoff: dt.date, readers: list, sdk=None
) -> None:
    """The stamp names ``cutoff``'s snapshots and every reader reads them, both views (and the
    Feast SDK through ``sdk``, a store opened earlier, and a new one)."""
    version = snapshot_version(settings.paths.features, cutoff)
    fresh = st.open_store(settings, online, REDIS)
    assert st.read_stamp(fresh, settings) == version
    for store in [fresh] + ([sdk] if sdk is not None else []):
        assert sdk_cutoff(settings, store, "customer", SAMPLE_C) == cutoff
        assert sdk_cutoff(settings, store, "article", SAMPLE_A) == cutoff
    for reader in readers:
        customers = reader.customers(SAMPLE_C)
        articles = reader.articles(SAMPLE_A)
        assert reader.version == version
        assert customers.found.all() and articles.found.all()
        assert served_cutoff(settings, customers, "customer", SAMPLE_C) == cutoff
        assert served_cutoff(settings, articles, "article", SAMPLE_A) == cutoff


def killed_at(settings: Settings, online: str, cutoff: dt.date, pause: str) -> None:
    """Materialize ``cutoff`` in a child process (forked: no second import of Feast) and
    SIGKILL it where it pauses, as ``kill -9`` would."""
    ctx = multiprocessing.get_context("fork")
    receive, tell = ctx.Pipe(duplex=False)
    child = ctx.Process(target=paused_materialize, args=(settings, cutoff, online, pause, tell))
    child.start()
    try:
        marker = receive.recv() if receive.poll(60) else "timeout"
        assert marker == pause, f"materialize did not pause at {pause}: {marker}"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)


def test_killed_materialization_keeps_the_previous_cutoff_served(
    home: Settings, online: str
) -> None:
    """Killed after one customer view, after both (the reported fault: customers new, articles
    old) or just before the switch: the stamp and both views stay on the previous cutoff; a
    re-run switches both and leaves nothing of the killed runs."""
    from recsys.features.online import OnlineFeatures

    before = OnlineFeatures(home, online, REDIS, refresh_s=0)  # opened before the kills
    sdk = st.open_store(home, online, REDIS)  # a long-lived Feast SDK store, too
    assert_serves(home, online, CUTOFFS[0], [before], sdk)
    for pause in ("customer_activity", "customer_profile", "switch"):
        killed_at(home, online, CUTOFFS[1], pause)
        assert_serves(home, online, CUTOFFS[0], [before, OnlineFeatures(home, online, REDIS)], sdk)
    mat.materialize(home, CUTOFFS[1], online, REDIS, progress=False)
    assert_serves(home, online, CUTOFFS[1], [before, OnlineFeatures(home, online, REDIS)], sdk)
    if online == "sqlite":
        feast_dir = home.paths.feast
        assert sorted(p.name for p in feast_dir.iterdir()) == ["online_store.db", "registry.db"]
    else:  # two slots (the previous one is kept for readers not yet switched) + 3 small keys
        assert redis_db_size() == 2 * (len(CUSTOMERS) + len(ARTICLES)) + 3


def redis_db_size() -> int:
    """Keys in the test's Redis db."""
    import redis

    return int(redis.Redis(host="127.0.0.1", port=6379, db=13).dbsize())


def test_readers_never_see_a_mix_while_materializations_switch(home: Settings, online: str):
    """A reader opened before the switches reads, all along, blocks that are wholly one cutoff's,
    named by its stamp; after the last switch it reads that switch's cutoff, both views."""
    from recsys.features.online import OnlineFeatures

    reader = OnlineFeatures(home, online, REDIS, refresh_s=0)
    assert_serves(home, online, CUTOFFS[0], [reader])
    versions = {snapshot_version(home.paths.features, c): c for c in CUTOFFS}
    seen: list[tuple] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            customers = reader.customers(SAMPLE_C)
            articles = reader.articles(SAMPLE_A)
            seen.append(
                (
                    served_cutoff(home, customers, "customer", SAMPLE_C),
                    served_cutoff(home, articles, "article", SAMPLE_A),
                    versions.get(reader.version),
                )
            )

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for cutoff in (CUTOFFS[1], CUTOFFS[0]):
            mat.materialize(home, cutoff, online, REDIS, progress=False)
    finally:
        done.set()
        thread.join(60)
    assert seen
    assert all(c is not None for c, _, _ in seen), "a customer read mixed two materializations"
    assert all(a is not None and a == v for _, a, v in seen), "articles not the stamp's cutoff"
    assert {c for c, _, _ in seen} | {a for _, a, _ in seen} <= set(CUTOFFS)
    assert_serves(home, online, CUTOFFS[0], [reader])


def test_a_slot_rewritten_keeps_nothing_of_its_older_cutoff(home: Settings, online: str):
    """Null values are written as no row (SQLite) or no hash field (Redis): where the newer
    cutoff is null, the slot that held the older one reads None, not the older value."""
    from recsys.features.online import OnlineFeatures

    names = [f.name for f in mat.expected_schema("customer")][2:]
    old, new = (expected(snapshot_frame(home, "customer", c), SAMPLE_C, names) for c in CUTOFFS)
    assert ((old != None) & (new == None)).any()  # noqa: E711 (element-wise)
    for cutoff in (CUTOFFS[1], CUTOFFS[1]):  # Redis: the second run rewrites CUTOFFS[0]'s slot
        mat.materialize(home, cutoff, online, REDIS, progress=False)
    assert_serves(home, online, CUTOFFS[1], [OnlineFeatures(home, online, REDIS)])
