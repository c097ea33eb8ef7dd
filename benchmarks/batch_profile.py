"""Where the batch's time goes, phase by phase, on a home with a champion (``HM_HOME``).

Ranks ``--chunks`` chunks of ``--chunk`` active customers (from the middle of the id range)
through :func:`batch_recommendations` in this process, and times retrieval per union member on
the first chunk. Phases: the union (members + merge), interaction features, store features
(the snapshot's blocks placed in the ranker's matrix; their one-off build apart), scoring (the
rest of the matrix and the forest), selection (top 12 + top-up), the candidate store write, and
whatever the batch prepares once; a phase called inside another counts apart from it. Prints
one JSON line (CPU seconds of this process per phase, customers per CPU second: wall time on a
shared machine says more about the neighbours than about the batch).

``python -m benchmarks.batch_profile --chunk 5000 --chunks 2``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys import schema
from recsys.settings import get_settings


def main() -> None:
    from recsys import registry
    from recsys.data.lake import Lake
    from recsys.ranking.batch import active_mask, batch_recommendations
    from recsys.ranking.candidate_store import CandidateStoreWriter
    from recsys.ranking.features import SnapshotFeatures
    from recsys.ranking.package import RecommenderPackage
    from recsys.retrieval.history import load_history

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--active-weeks", type=int, default=12)
    args = parser.parse_args()
    settings = get_settings()
    t = {}
    start = time.process_time()
    package = RecommenderPackage.load(registry.download_package(settings))
    lake = Lake(settings.paths.lake)
    history = load_history(lake, package.cutoff)
    reader = SnapshotFeatures(settings, package.cutoff)
    t["load"] = time.process_time() - start
    ids = np.unique(
        lake.read(schema.CUSTOMERS, [schema.CUSTOMER_ID]).to_pandas()[schema.CUSTOMER_ID]
    )
    active = ids[active_mask(history, ids, args.active_weeks)]
    start = len(active) // 3
    sample = active[start : start + args.chunk * args.chunks]  # from the middle
    chunk = sample[: args.chunk]
    k = int(package.meta.get("candidates", settings.candidates))
    union = package.union
    for spec in union.config.sources:
        t0 = time.process_time()
        union.members[spec.name].retrieve(chunk, spec.quota)
        t[f"retrieve:{spec.name}"] = time.process_time() - t0
    phases: dict[str, float] = {}
    timer = _Timer(phases)
    with tempfile.TemporaryDirectory() as tmp:
        writer = CandidateStoreWriter(Path(tmp) / "store")
        _instrument(timer, writer)
        t0 = time.process_time()
        options = (k, args.chunk, None)
        sink = timer.wrap("write", writer.append)
        batch_recommendations(package, sample, history, reader, options, sink=sink)
        total = time.process_time() - t0
    t.update(phases)
    t["total"] = total
    t["other"] = total - sum(phases.values())
    retrieval = sum(v for n, v in t.items() if n.startswith("retrieve:"))
    out = {
        "customers": len(sample),
        "chunk": args.chunk,
        "active": len(active),
        "seconds": {n: round(v, 3) for n, v in t.items()},
        "retrieval_members_first_chunk": round(retrieval, 3),
        "customers_per_cpu_s": round(len(sample) / total, 1),
    }
    print(json.dumps(out))


class _Timer:
    """Accumulates seconds per phase of wrapped callables, a nested phase's out of its caller's."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases = phases
        self.inner: list[float] = []  # per running wrapped call: seconds of the phases it called

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            t0 = time.process_time()
            self.inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.process_time() - t0
                own = spent - self.inner.pop()
                if self.inner:
                    self.inner[-1] += spent
                self.phases[name] = self.phases.get(name, 0.0) + own

        return timed


def _instrument(timer: _Timer, writer) -> None:
    """Times the phases :func:`rank_customers` calls, by wrapping them where it looks them up."""
    import recsys.ranking.batch as batch
    import recsys.ranking.dataset as dataset
    import recsys.ranking.ranker as ranker
    from recsys.retrieval.union import UnionRetriever

    dataset.interaction_features = timer.wrap("interactions", dataset.interaction_features)
    UnionRetriever.retrieve = timer.wrap("union (all members + merge)", UnionRetriever.retrieve)
    ranker.Ranker.score = timer.wrap("score", ranker.Ranker.score)
    batch.top_by_score = timer.wrap("select", batch.top_by_score)
    batch.fill_with = timer.wrap("select", batch.fill_with)
    from recsys.ranking import features

    features.SnapshotFeatures.__call__ = timer.wrap(
        "store features", features.SnapshotFeatures.__call__
    )
    features.StoreBlock.place = timer.wrap("store features", features.StoreBlock.place)
    features.store_block = timer.wrap("store blocks (once)", features.store_block)


if __name__ == "__main__":
    main()
