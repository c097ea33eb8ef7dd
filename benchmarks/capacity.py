"""A capacity model for ten times H&M on a Dask cluster, from measured figures only.

Inputs (all in ``benchmarks/results``):
- ``retrain_full.json``: the weekly retrain at full H&M scale on one 2-core box, per stage;
- the cost curve (``<scale>.json`` and ``pipeline_<scale>.json``): each stage's growth
  exponent b (wall time ~ transactions^b, medium to full, :func:`benchmarks.run.cost_points`);
- ``dask_medium.json``: the medium world's retrain on Dask clusters of 1 and 2 workers.

Per stage: one box at 10x = full x 10^b; the parallel share p from the measured 1 -> 2 worker
speedup S (Amdahl: S = 1 / ((1 - p) + p / 2), so p = 2 (1 - 1/S), clipped to 0..1); on W
workers, 10x one box x ((1 - p) + p / W). Rendered into the README between
``<!-- capacity:start -->`` and ``<!-- capacity:end -->``.

    python -m benchmarks.capacity --readme README.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.run import RESULTS, cost_points, exponent, update_readme

CAPACITY_MARKERS = ("<!-- capacity:start -->", "<!-- capacity:end -->")
STAGES = ("ingest", "features", "candidates", "train", "evaluate", "publish", "batch")
GROWTH = 10  # ten times H&M's transactions and customers
WORKERS = (1, 4, 8, 16)


def parallel_share(one: float, two: float) -> float:
    """Amdahl's parallel share p from the wall times on 1 and 2 workers."""
    if not one or not two:
        return 0.0
    return min(1.0, max(0.0, 2 * (1 - two / one)))


def stage_exponents() -> dict[str, float]:
    """Each stage's growth exponent, medium to full (1.0 where it cannot be computed)."""
    points = cost_points()
    medium, full = points.get("medium"), points.get("full")
    out = {}
    for stage in STAGES:
        b = None
        if medium and full and stage in medium["cost"] and stage in full["cost"]:
            tx = (medium["rows"]["transactions"], full["rows"]["transactions"])
            b = exponent(medium["cost"][stage][0], full["cost"][stage][0], *tx)
        out[stage] = 1.0 if b is None else max(b, 0.0)
    return out


def model() -> list[dict]:
    """Per stage: full one box, 10x one box, p, and 10x on each of :data:`WORKERS`."""
    full = json.loads((RESULTS / "retrain_full.json").read_text())["timings"]
    runs = speedup_runs()
    assert runs is not None
    one, two = runs["local:1"]["stages"], runs["local:2"]["stages"]
    b = stage_exponents()
    rows = []
    for stage in STAGES:
        big = full[stage] * GROWTH ** b[stage]
        p = parallel_share(one[stage], two[stage])
        on = {w: big * ((1 - p) + p / w) for w in WORKERS}
        rows.append(
            {"stage": stage, "full": full[stage], "b": b[stage], "p": p, "big": big, "on": on}
        )
    return rows


SPEEDUP_SCALES = ("medium",)  # where the 1 -> 2 worker speedup is read (small: overheads only)


def speedup_runs() -> dict[str, dict] | None:
    """The 1- and 2-worker runs of the largest scale that has both, by mode; None if none has."""
    for scale in SPEEDUP_SCALES:
        path = RESULTS / f"dask_{scale}.json"
        if path.exists():
            runs = {r["mode"]: r for r in json.loads(path.read_text())["runs"]}
            if {"local:1", "local:2"} <= set(runs):
                return {**runs, "scale": {"name": scale}}
    return None


def measured() -> bool:
    """Whether the figures the model needs are in ``benchmarks/results``."""
    return speedup_runs() is not None and (RESULTS / "retrain_full.json").exists()


def render_capacity() -> str:
    """The README table of :func:`model`, with its totals (a line saying what is missing when
    the medium world has not been retrained on 1 and 2 workers yet)."""
    if not measured():
        return "Not measured yet: the medium world has no 1- and 2-worker retrains (`make bench`)."
    rows = model()
    runs = speedup_runs()
    assert runs is not None
    source = f"Parallel share p from the {runs['scale']['name']} world's 1 -> 2 worker retrains."
    head = ["stage", "full H&M, 1 box (s)", "growth b", "parallel share p", "10x, 1 box (s)"]
    head += [f"10x, {w} workers (s)" for w in WORKERS[1:]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [
            r["stage"],
            f"{r['full']:,.0f}",
            f"{r['b']:.2f}",
            f"{r['p']:.2f}",
            f"{r['big']:,.0f}",
        ]
        cells += [f"{r['on'][w]:,.0f}" for w in WORKERS[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    total = ["**weekly retrain**", f"{sum(r['full'] for r in rows):,.0f}", "", ""]
    total += [f"{sum(r['big'] for r in rows):,.0f}"]
    total += [f"{sum(r['on'][w] for r in rows):,.0f}" for w in WORKERS[1:]]
    lines.append("| " + " | ".join(total) + " |")
    return "\n".join([source, "", *lines])


def main() -> None:
    """Print the model; with ``--readme``, render it there."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", type=Path, default=None)
    args = parser.parse_args()
    table = render_capacity()
    print(table)
    if args.readme:
        update_readme(args.readme, table, CAPACITY_MARKERS)


if __name__ == "__main__":
    main()
