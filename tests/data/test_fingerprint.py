"""Content fingerprints: every byte counts, and an unchanged file is not read again."""

from __future__ import annotations

import os
import time

import pytest
import xxhash

from recsys.data.errors import RawDataError
from recsys.data.fingerprint import HashCache, combine, hash_file

BODY = b"t_dat,customer_id\n" + b"2020-09-22,abc\n" * 5000


def test_every_byte_counts_and_prefixes_hash_like_the_files_they_were(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(BODY)
    whole, head = hash_file(path, prefix=1000)
    assert whole == f"xxh3_128:{xxhash.xxh3_128(BODY).hexdigest()}"
    assert head == f"xxh3_128:{xxhash.xxh3_128(BODY[:1000]).hexdigest()}"
    middle = len(BODY) // 2
    path.write_bytes(BODY[:middle] + b"X" + BODY[middle + 1 :])  # same size
    assert hash_file(path)[0] != whole
    assert hash_file(path, prefix=len(BODY) + 1)[1] is None


def test_the_stat_cache_skips_unchanged_files_and_sees_edits(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(BODY)
    store = tmp_path / "home" / "cache" / "file-hashes.json"
    cache = HashCache(store, racy_ns=0)
    first = cache.digest(path)
    cache.save()
    reopened = HashCache(store, racy_ns=0)
    assert reopened.digest(path) == first and reopened.hashed_bytes == 0
    assert reopened.digest(path, prefix=10).prefixes[10] == hash_file(path, 10)[1]
    assert reopened.hashed_bytes == len(BODY)  # a prefix not asked for before: one more pass
    time.sleep(0.01)
    with open(path, "r+b") as f:  # in place, same size
        f.seek(len(BODY) // 2)
        f.write(b"X")
    assert reopened.digest(path).hash != first.hash


def test_a_file_changed_just_now_is_not_cached(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(BODY)
    cache = HashCache(tmp_path / "hashes.json")  # default window: 2 s
    cache.digest(path)
    assert not cache.entries
    old = time.time() - 10
    os.utime(path, (old, old))  # the ctime is still now
    cache.digest(path)
    assert not cache.entries


def test_a_file_growing_while_hashed_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    path.write_bytes(BODY)
    import recsys.data.fingerprint as fingerprint

    original = fingerprint.hash_file

    def appending(p, prefix=None):
        result = original(p, prefix)
        with open(p, "ab") as f:
            f.write(b"2020-09-22,late\n")
        return result

    monkeypatch.setattr(fingerprint, "hash_file", appending)
    with pytest.raises(RawDataError, match="changed while it was being read"):
        HashCache(None).digest(path)


def test_identity_depends_on_names_contents_and_settings():
    base = combine({"a.csv": "h1", "b.csv": "h2"}, "")
    assert base == combine({"b.csv": "h2", "a.csv": "h1"}, "")
    assert base != combine({"a.csv": "h2", "b.csv": "h1"}, "")
    assert base != combine({"a.csv": "h1", "b.csv": "h2"}, "price_max=2.0")
