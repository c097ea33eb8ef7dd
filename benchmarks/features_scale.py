"""Time and memory of the feature snapshots (``recsys.features.snapshots``) on a raw world.

Not collected by pytest. Run::

    python -m benchmarks.features_scale --raw /tmp/w_medium --home /tmp/hm_medium --weeks 2

Ingests ``--raw`` into ``--home`` if its lake does not already hold those files (in a child
process, so the peak RSS printed is the snapshots' alone), then rebuilds the snapshots of the
last ``--weeks`` default cutoffs and prints seconds per cutoff and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from collections import defaultdict
from pathlib import Path

from recsys.data.lake import Lake
from recsys.features.cutoffs import default_cutoffs
from recsys.features.snapshots import build_snapshots
from recsys.settings import Settings


def _ingest(raw: Path, home: Path) -> None:
    """Ingest ``raw`` into ``home`` (a no-op if the lake already holds these files)."""
    from recsys.data.ingest import ingest

    ingest(raw, Settings(home=home, raw=None), progress=False)


def ensure_lake(raw: Path, home: Path) -> float:
    """Run the ingest in a child process; returns its seconds."""
    start = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=_ingest, args=(raw, home))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"ingest of {raw} failed (exit code {child.exitcode})")
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Parse arguments, ingest if needed, time the snapshots and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder with the Kaggle CSVs")
    parser.add_argument("--home", type=Path, required=True, help="project home to use")
    parser.add_argument("--weeks", type=int, default=1, help="number of cutoffs to build")
    args = parser.parse_args()

    print(f"ingest: {ensure_lake(args.raw, args.home):.1f} s")
    settings = Settings(home=args.home, raw=None)
    lake = Lake(settings.paths.lake)
    rows = lake.manifest()["rows"]
    print(f"lake: {rows}")
    cutoffs = default_cutoffs(lake, args.weeks)
    start = time.perf_counter()
    infos = build_snapshots(lake, cutoffs, settings.paths.features, progress=False, force=True)
    total = time.perf_counter() - start
    per_cutoff: dict[str, list[str]] = defaultdict(list)
    for info in infos:
        per_cutoff[str(info.cutoff)].append(f"{info.entity} {info.rows} rows {info.seconds:.1f} s")
    for cutoff, parts in per_cutoff.items():
        print(f"cutoff {cutoff}: " + ", ".join(parts))
    print(f"total {total:.1f} s, {total / len(cutoffs):.1f} s per cutoff")
    print(f"peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
