"""The candidate store and the answers ranked ahead are published whole: a writer killed (SIGKILL)
mid-way, or at the very moment it would switch, leaves the previous one readable as it was, and
the next write removes what the killed one left."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.ranking.candidate_store import CandidateStore, CandidateStoreWriter
from recsys.schema import K
from serving.answers import Answers, load_answers


def paused(path: Path, pause: str, tell, write: Callable[[Callable[[str], None]], None]) -> None:
    """Run ``write`` (in a forked child) and stop where ``pause`` says: ``write`` calls the hook
    it is given at its own points; ``switch`` is the moment the folder at ``path`` changes (just
    after a removal of it, or just before a rename onto it). Sends the marker, then sleeps until
    killed."""

    def stop(marker: str) -> None:
        tell.send(marker)
        time.sleep(600)

    def at(marker: str) -> None:
        if marker == pause:
            stop(marker)

    def same(p: object) -> bool:
        return Path(os.fspath(p)) == path

    rmtree, rename, replace = shutil.rmtree, os.rename, os.replace

    def hooked_rmtree(p, *args, **kwargs):
        out = rmtree(p, *args, **kwargs)
        if same(p) and pause == "switch":  # the old folder removed, the new one not yet in
            stop("switch")
        return out

    def hooked_rename(src, dst, *args, **kwargs):
        if same(dst) and pause == "switch":
            stop("switch")
        return rename(src, dst, *args, **kwargs)

    def hooked_replace(src, dst, *args, **kwargs):
        if same(dst) and pause == "switch":
            stop("switch")
        return replace(src, dst, *args, **kwargs)

    shutil.rmtree, os.rename, os.replace = hooked_rmtree, hooked_rename, hooked_replace
    write(at)
    tell.send("done")


def killed_at(path: Path, pause: str, write: Callable) -> None:
    """``write`` in a forked child, SIGKILLed where it pauses."""
    ctx = multiprocessing.get_context("fork")
    receive, tell = ctx.Pipe(duplex=False)
    child = ctx.Process(target=paused, args=(path, pause, tell, write))
    child.start()
    try:
        marker = receive.recv() if receive.poll(60) else "timeout"
        assert marker == pause, f"the writer did not pause at {pause}: {marker}"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)


def leftovers(folder: Path) -> list[str]:
    """Names of temporary things in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if "tmp" in p.name)


def candidates(seed: int) -> pd.DataFrame:
    """Some candidate rows, customers ascending."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(1, 41), 5),
            "article_id": rng.integers(1, 10_000, 200),
            "score": rng.random(200),
        }
    )


def write_candidates(path: Path, seed: int) -> Callable:
    """A writer of the store of ``candidates(seed)`` at ``path``, pausing at its hook's points."""

    def write(at: Callable[[str], None] = lambda _: None) -> None:
        frame = candidates(seed)
        writer = CandidateStoreWriter(path)
        writer.append(frame.iloc[:100])
        at("append")
        writer.append(frame.iloc[100:])
        writer.close({"cutoff": str(seed)})

    return write


def assert_store(path: Path, seed: int) -> None:
    """The store at ``path`` holds ``candidates(seed)``, whole."""
    store = CandidateStore.open(path)
    frame = candidates(seed)
    assert store.meta["cutoff"] == str(seed) and store.meta["rows"] == len(frame)
    assert np.array_equal(np.asarray(store.articles), frame["article_id"].to_numpy(np.int32))
    assert np.array_equal(np.asarray(store.values)[:, 0], frame["score"].to_numpy(np.float32))


def test_a_killed_candidate_writer_leaves_the_previous_store(tmp_path: Path) -> None:
    """Killed between two chunks, or as it switches: the previous store is read, whole (also
    over a plain folder, as older homes have it)."""
    path = tmp_path / "candidates" / "pkg"
    write_candidates(path, 1)()
    if path.is_symlink():  # an older home's plain folder
        real = path.resolve()
        path.unlink()
        real.rename(path)
    killed_at(path, "append", write_candidates(path, 2))
    assert_store(path, 1)
    write_candidates(path, 2)()
    assert_store(path, 2)
    killed_at(path, "switch", write_candidates(path, 3))
    assert_store(path, 2)
    write_candidates(path, 4)()
    assert_store(path, 4)
    assert leftovers(path.parent) == []
    assert len(list(path.parent.iterdir())) <= 3  # the link, the served and the previous store


def answers(seed: int, n: int = 30) -> Answers:
    """Small answers: ``n`` customers' lists and one cold list."""
    rng = np.random.default_rng(seed)
    return Answers(
        customers=np.arange(n, dtype=np.int64) * 2,
        articles=rng.integers(1, 1000, (n, K)).astype(np.int32),
        scores=rng.random((n, K)).astype(np.float32),
        sources=np.zeros((n, K), np.uint8),
        lengths=np.full(n, K, np.uint8),
        names=('"popularity"',),
        segment_ids=np.zeros(0, np.int64),
        segment_codes=np.zeros(0, np.int8),
        cold={0: (f'{{"article_id":{seed}}}',)},
    )


def write_answers(path: Path, seed: int) -> Callable:
    """A writer of ``answers(seed)`` at ``path``."""

    def write(at: Callable[[str], None] = lambda _: None) -> None:
        answers(seed).save(path)

    return write


def assert_answers(root: Path, key: str, seed: int) -> None:
    """The answers under ``root/key`` are ``answers(seed)``, whole."""
    got, want = load_answers(root, key), answers(seed)
    assert got is not None
    for name in ("customers", "articles", "scores", "lengths"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.cold == want.cold


def test_a_killed_answers_writer_leaves_the_previous_answers(tmp_path: Path) -> None:
    """Killed as it switches: the previous answers are read, whole (none for a first write)."""
    root = tmp_path / "answers"
    write_answers(root / "state", 1)()
    killed_at(root / "state", "switch", write_answers(root / "state", 2))
    assert_answers(root, "state", 1)
    killed_at(root / "new", "switch", write_answers(root / "new", 4))  # a first write
    assert load_answers(root, "new") is None
    write_answers(root / "state", 3)()
    write_answers(root / "new", 4)()
    assert_answers(root, "state", 3)
    assert_answers(root, "new", 4)
    assert leftovers(root) == []
