"""Fitted unions reused across runs: keyed on what the fit read, loaded equal to a fresh fit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema
from recsys.data.lake import Lake
from recsys.retrieval import fit_cache
from recsys.retrieval.history import History, load_history
from recsys.retrieval.sources import DEFAULT_SOURCES, parse_sources
from tests.tamper import tamper_after

SPECS = parse_sources(
    [
        {"kind": "repurchase", "quota": 20},
        {"kind": "itemcf", "quota": 20},
        {"kind": "popularity", "quota": 20, "name": "popular_age", "mode": "age_bucket"},
    ]
)


def test_a_loaded_union_answers_as_the_fitted_one(history: History, tmp_path: Path) -> None:
    specs = list(DEFAULT_SOURCES)  # every default source survives the round trip exactly
    fitted, fit_s = fit_cache.fit_or_load_union(history, specs, tmp_path)
    loaded, again_s = fit_cache.fit_or_load_union(history, specs, tmp_path)
    assert set(fit_s) == {s.name for s in specs} and again_s == {}
    assert loaded is not fitted and loaded.cutoff == fitted.cutoff
    customers = np.unique(history.transactions[schema.CUSTOMER_ID].to_numpy())[:300]
    customers = np.r_[customers, 10**12]  # an unknown customer too
    pd.testing.assert_frame_equal(loaded.retrieve(customers, 100), fitted.retrieve(customers, 100))


def test_rows_on_or_after_the_cutoff_keep_the_key(
    published_home: Path, cutoff: dt.date, history: History, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(published_home, copy)
    tamper_after(copy / "lake", cutoff)
    later = load_history(Lake(copy / "lake"), cutoff)
    assert fit_cache.union_key(later, SPECS) == fit_cache.union_key(history, SPECS)


def test_what_the_fit_reads_changes_the_key(history: History) -> None:
    key = fit_cache.union_key(history, SPECS)
    tx = history.transactions.copy()
    tx.loc[0, schema.PRICE] += 0.01
    articles = history.articles.copy()
    articles.loc[0, "colour_group_code"] += 1
    customers = history.customers.copy()
    customers.loc[0, "age"] = 99.0
    changed = [
        dataclasses.replace(history, transactions=tx),
        dataclasses.replace(history, articles=articles),
        dataclasses.replace(history, customers=customers),
        dataclasses.replace(history, cutoff=history.cutoff + dt.timedelta(days=7)),
    ]
    for other in changed:
        assert fit_cache.union_key(other, SPECS) != key
    assert fit_cache.union_key(history, SPECS[:2]) != key
    assert fit_cache.union_key(dataclasses.replace(history), SPECS) == key


def test_no_store_fits_every_time(history: History) -> None:
    _, fit_s = fit_cache.fit_or_load_union(history, SPECS, None)
    _, again = fit_cache.fit_or_load_union(history, SPECS, None)
    assert set(fit_s) == set(again) == {s.name for s in SPECS}


def test_the_least_recently_used_unions_are_pruned(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"u{i}").mkdir()
        os.utime(tmp_path / f"u{i}", (1000 + i, 1000 + i))
    os.utime(tmp_path / "u0", (5000, 5000))  # u0 was just reused
    (tmp_path / ".tmp-u9-abc").mkdir()  # a killed save, hours ago
    os.utime(tmp_path / ".tmp-u9-abc", (1000, 1000))
    (tmp_path / ".tmp-u8-def").mkdir()  # a save under way beside this prune (another week's)
    fit_cache.prune(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-u8-def", "u0", "u3", "u4"]
