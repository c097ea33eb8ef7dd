"""Maps over chunks on a Dask cluster: in order, and surviving the loss of their shared data."""

from __future__ import annotations

import os
import signal
import time
from collections import deque

from recsys.parallel import Parallel, slices


def _slow_len(shared: bytes, x: int) -> int:
    time.sleep(0.2)
    return x + len(shared)


def test_a_map_that_loses_every_copy_of_its_shared_data_scatters_it_again(cluster) -> None:
    from recsys.parallel import _Shipped

    shipped = _Shipped(cluster, _slow_len, b"x" * 100)
    [holder] = cluster.who_has([shipped.ref])[shipped.ref.key]
    os.kill(cluster.run(os.getpid)[holder], signal.SIGKILL)  # the only copy
    deadline = time.monotonic() + 60
    while holder in cluster.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.1)
    pending = deque((x, shipped.submit(x)) for x in range(6))
    got = [shipped.result(pending) for _ in range(6)]
    assert shipped.lost == 1 and got == [100 + x for x in range(6)] and not pending


def test_a_map_on_a_cluster_keeps_item_order(cluster) -> None:
    got = list(Parallel(client=cluster).map(_slow_len, b"x" * 10, range(9), window=3))
    assert got == [10 + x for x in range(9)]


def test_slices_cover_the_items_in_order() -> None:
    import numpy as np

    parts = list(slices(np.arange(10), 4))
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(slices(np.arange(0), 4)) == []
