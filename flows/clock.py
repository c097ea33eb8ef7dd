"""Wall time and peak memory of each stage of a run (what the run's summary reports).

A stage's peak is that of the whole process tree (this process plus the workers it forks), as
the sum of proportional set sizes (pages the workers share copy-on-write count once), sampled
every :data:`SAMPLE_S` seconds, and never below this process's own high-water mark when that
rose during the stage (the kernel's exact figure, which catches spikes between samples).

Reading a PSS walks the process's page tables in the kernel, under its memory-map lock: ~0.3 s
for one 15 GiB process, so at full H&M scale a sample of the parent and two forked workers
took ~1 s, and sampling every 0.25 s kept most of a core busy and stalled the workers' page
faults. The sampler therefore waits :data:`DUTY` times as long as its last sample took (at
least :data:`SAMPLE_S`): it spends at most ~1/(1 + DUTY) of one core.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SAMPLE_S = 0.25  # seconds between two samples of the process tree's memory, at least
DUTY = 20  # ... and at least this many times what the last sample took
GIB = 2**30


def peak_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def tree_rss(pid: int | None = None) -> int:
    """Memory of process ``pid`` (default: this one) and all its descendants now, in bytes: the
    sum of their proportional set sizes (a page shared by forked workers counts once in all),
    or of their resident sizes where PSS cannot be read."""
    import psutil

    try:
        me = psutil.Process(pid)
        processes = [me, *me.children(recursive=True)]
    except psutil.Error:  # it has exited
        return 0
    return sum(_memory(p) for p in processes)


def _memory(process: object) -> int:
    """One process's PSS (RSS as a fallback; 0 once it has exited)."""
    import psutil

    try:
        return int(process.memory_full_info().pss)  # type: ignore[attr-defined]
    except (psutil.AccessDenied, AttributeError):
        try:
            return int(process.memory_info().rss)  # type: ignore[attr-defined]
        except psutil.Error:
            return 0
    except psutil.Error:  # it exited between the listing and the read
        return 0


class TreePeak:
    """The peak of :func:`tree_rss` (of ``pid``, default this process) while the context is
    open, sampled by a daemon thread."""

    def __init__(self, interval: float = SAMPLE_S, pid: int | None = None) -> None:
        self.interval, self.pid, self.peak = interval, pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tree-peak", daemon=True)

    def _sample(self) -> None:
        while True:
            start = time.perf_counter()
            self.peak = max(self.peak, tree_rss(self.pid))
            took = time.perf_counter() - start
            if self._stop.wait(max(self.interval, DUTY * took)):
                return

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


class StageClock:
    """Named wall-clock laps and each stage's peak memory in GiB: ``with clock("train")``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start, before = time.perf_counter(), peak_gib()
        with TreePeak() as tree:
            yield
        self.laps[name] = round(time.perf_counter() - start, 2)
        own = peak_gib()
        sampled = tree.peak / GIB
        self.peaks[name] = round(max(sampled, own if own > before else 0.0), 2)
