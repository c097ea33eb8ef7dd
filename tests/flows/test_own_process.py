"""A stage's work in a process of its own: results and errors come back, memory does not stay."""

from __future__ import annotations

import os
import resource
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy

from flows.own_process import StageProcessDied, in_own_process, own_process


class _TwoArgs(Exception):
    """An error that cannot cross processes: its state holds a lock. (Its two-argument
    ``__init__`` alone no longer stops it: once ``distributed`` is imported, tblib rebuilds
    exceptions from their args and state, whatever their ``__init__``.)"""

    def __init__(self, what: str, rows: int) -> None:
        super().__init__(f"{what}: {rows} rows")
        self.guard = threading.Lock()


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _fails() -> None:
    raise ValueError("column t_dat has 3 rows in the future")


def _fails_oddly() -> None:
    raise _TwoArgs("bad file", 3)


def _dies() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _fills(mib: int) -> int:
    block = np.ones(mib * 2**20, np.uint8)
    return int(block.sum() // 2**20)


def test_the_result_comes_back_from_another_process() -> None:
    pid, value = in_own_process("double", _pid_and, 21)
    assert value == 42
    assert pid != os.getpid()


def test_an_error_is_raised_again_with_its_type_and_the_childs_traceback() -> None:
    with pytest.raises(ValueError, match="t_dat has 3 rows") as caught:
        in_own_process("validate", _fails)
    notes = "\n".join(caught.value.__notes__)
    assert "stage 'validate'" in notes and "_fails" in notes


def test_an_error_that_cannot_be_rebuilt_keeps_its_type_name_and_message() -> None:
    with pytest.raises(RuntimeError, match=r"_TwoArgs: bad file: 3 rows"):
        in_own_process("ingest", _fails_oddly)


def test_a_killed_process_names_the_stage_and_the_signal() -> None:
    with pytest.raises(StageProcessDied, match=r"'candidates' was killed by signal SIGKILL"):
        in_own_process("candidates", _dies)


def test_the_memory_a_stage_used_does_not_stay_with_the_caller() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # MiB
    assert in_own_process("big", _fills, 600) == 600
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    assert after - before < 300


def test_a_database_engine_opened_before_the_fork_works_in_the_child(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'runs.db'}")
    with engine.begin() as db:
        db.exec_driver_sql("create table runs (id integer)")
        db.exec_driver_sql("insert into runs values (1)")

    def add_and_count() -> int:
        with engine.begin() as db:
            db.exec_driver_sql("insert into runs values (2)")
            return db.exec_driver_sql("select count(*) from runs").scalar_one()

    assert in_own_process("register", add_and_count) == 2
    with engine.connect() as db:
        assert db.exec_driver_sql("select count(*) from runs").scalar_one() == 2


def test_a_decorated_function_runs_in_its_own_process_under_its_own_name() -> None:
    import inspect

    decorated = own_process("double")(_pid_and)
    assert decorated.__name__ == "_pid_and"
    assert inspect.signature(decorated) == inspect.signature(_pid_and)  # what Prefect binds
    pid, value = decorated(value=4)
    assert value == 8 and pid != os.getpid()


def _offloaded() -> int:
    import asyncio

    from distributed.utils import offload

    async def once() -> int:
        return await asyncio.wait_for(offload(lambda: 42), 10)

    return asyncio.run(once())


def test_dask_offloading_works_in_a_stage_whose_parent_offloaded_before() -> None:
    """A client serializes messages over 10 MiB on Dask's offload thread: the child gets a pool
    of its own (the parent's came along without its thread and would never run the work)."""
    assert _offloaded() == 42  # the parent's pool now has a thread, counted idle
    assert in_own_process("batch", _offloaded) == 42
