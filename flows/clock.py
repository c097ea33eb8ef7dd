"""Wall time and peak memory of each stage of a run (what the run's summary reports)."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager


def peak_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


class StageClock:
    """Named wall-clock laps and the process's peak memory after each: ``with clock("train")``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.laps[name] = round(time.perf_counter() - start, 2)
        self.peaks[name] = peak_gib()
