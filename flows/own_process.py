"""One stage's work in a child process of its own, its (small) result handed back.

The loop runs its stages one after the other in one process (Prefect's local mode), and memory
a stage frees stays with that process: glibc's and Arrow's allocators keep what they once held.
At full H&M scale the process that had fitted the candidate unions carried ~8 GiB of it into
publish (publish peaked at 16.9 GiB in the loop against 8.2 GiB on its own). So every heavy
task's body runs in a child forked for it: its memory goes back to the system when it ends, and
the loop's own process stays small. What a body returns (a folder, a count) is pickled back.

Forked, not spawned: the child starts in milliseconds with the modules already loaded (and a
test's patches in place), and only the result is pickled. It is forked from a fresh thread
(clear of the parent's OpenMP pool, as in :mod:`recsys.forked`), drops the database connections
it inherited (SQLAlchemy pools: MLflow's store) so it opens its own, and ends itself if the
parent dies. An exception raised in the child is raised again in the parent with the child's
traceback as a note; a child that dies without an answer (killed by the kernel's out-of-memory
killer, say) raises :class:`StageProcessDied`.

On a Dask worker (a stage task a ``DaskTaskRunner`` placed there) the task's thread hands its
slot back to the worker while the stage runs (``distributed.secede``): the stage's own chunks
may need that worker. A worker process started as a daemon cannot fork: there the stage runs
in the worker's process itself.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
PARENT_POLL_S = 0.5  # how often the child checks that its parent is alive


class StageProcessDied(RuntimeError):
    """A stage's process ended without handing back a result or an error."""

    def __init__(self, stage: str, exitcode: int | None) -> None:
        if exitcode is not None and exitcode < 0:
            how = f"was killed by signal {signal.Signals(-exitcode).name}"
            if -exitcode == signal.SIGKILL:
                how += " (most often the kernel's out-of-memory killer: see `dmesg`)"
        else:
            how = f"exited with status {exitcode}"
        super().__init__(f"the process running stage {stage!r} {how}; nothing it wrote is used")
        self.stage, self.exitcode = stage, exitcode


def own_process(stage: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a task's function so that each call runs it :func:`in_own_process`."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> T:
            return in_own_process(stage, function, *args, **kwargs)

        return run

    return decorate


def in_own_process(stage: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` run in a forked child process; its result, or its error."""
    with _worker_slot_freed():
        if mp.current_process().daemon:  # a daemonic Dask worker may not have children
            return function(*args, **kwargs)
        return _forked(stage, function, *args, **kwargs)


@contextmanager
def _worker_slot_freed() -> Iterator[None]:
    """On a Dask worker's task thread: the thread leaves the worker's pool for the block (the
    worker runs other tasks meanwhile) and joins it again after; elsewhere nothing."""
    if "distributed" not in sys.modules:
        yield
        return
    from distributed import rejoin, secede
    from distributed.worker import thread_state

    if getattr(thread_state, "key", None) is None:
        yield
        return
    secede()
    try:
        yield
    finally:
        rejoin()


def _forked(stage: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a child forked for it (see the module's docstring)."""
    context = mp.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, function, args, kwargs), name=stage)
    starter = threading.Thread(target=child.start, name=f"fork {stage}")
    starter.start()
    starter.join()
    send.close()
    try:
        answer = receive.recv_bytes()
    except EOFError:
        answer = None
    except BaseException:  # interrupted while waiting: the child goes too
        child.terminate()
        raise
    finally:
        receive.close()
        child.join()
    if answer is None:
        raise StageProcessDied(stage, child.exitcode)
    ok, value, trace = pickle.loads(answer)
    if ok:
        return value
    value.add_note(f"(raised in the process of stage {stage!r})\n{trace}")
    raise value


def _child(send: Connection, function: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """(In the child) run ``function``, send back (ok, result or error, traceback)."""
    parent = os.getppid()
    threading.Thread(target=_exit_without, args=(parent,), name="parent-watch", daemon=True).start()
    _drop_inherited_connections()
    _renew_dask_offload()
    try:
        answer = (True, function(*args, **kwargs), "")
    except BaseException as error:  # noqa: BLE001 (handed to the parent, raised there)
        answer = (False, error, traceback.format_exc())
    send.send_bytes(_pickled(answer))
    send.close()


def _pickled(answer: tuple[bool, Any, str]) -> bytes:
    """``answer`` pickled; an error that does not survive pickling becomes a RuntimeError with
    its type and message (the traceback is kept either way)."""
    try:
        data = pickle.dumps(answer)
        pickle.loads(data)  # an exception class may pickle but not rebuild
        return data
    except Exception as failure:  # noqa: BLE001
        ok, value, trace = answer
        what = "result" if ok else f"{type(value).__name__}: {value}"
        error = RuntimeError(f"{what} (could not be handed back: {failure})")
        return pickle.dumps((False, error, trace))


def _drop_inherited_connections() -> None:
    """Forget the pooled database connections the parent opened (SQLAlchemy's advice for a
    forked child: ``dispose(close=False)``); the child opens its own when it needs one."""
    import sys

    if "sqlalchemy" not in sys.modules:
        return
    from sqlalchemy.engine import Engine

    # the object's type, not isinstance: that reads ``__class__``, which some objects (torch's
    # deprecated aliases) answer with a warning
    for engine in [o for o in gc.get_objects() if issubclass(type(o), Engine)]:
        engine.dispose(close=False)


def _renew_dask_offload() -> None:
    """A new thread pool for Dask's offloading (what a client serializes and deserializes when
    a message is over 10 MiB): the parent's pool came along without its thread, and counts it
    idle, so work handed to it would wait forever (a stage's client hung on its first large
    chunk result when the parent, hosting the scheduler, had offloaded before forking)."""
    if "distributed" not in sys.modules:
        return
    from concurrent.futures import ThreadPoolExecutor

    import distributed.utils

    name = "Dask-Offload"
    distributed.utils._offload_executor = ThreadPoolExecutor(1, thread_name_prefix=name)


def _exit_without(parent: int) -> None:
    """(In the child) end this process as soon as ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)
