"""The weekly retrain with no cluster, then on Dask clusters of 1 and 2 workers: wall time and
peak memory per stage, and the speedup over one worker.

Runs on the workdir a ``make bench`` scale left (its ``home`` after the pipeline, ``raw`` and
the held-back ``arrival``): each mode retrains a copy of that home, so every mode does the same
work (the new training week, the validation week, the serving union, the ranker, the batch).
The summary JSON of each run is kept; the table goes to ``benchmarks/results/dask_<scale>.json``
and the README (:func:`render_dask`).

    python -m benchmarks.dask_scale --workdir .hm/bench/medium --scale medium
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from benchmarks.run import RESULTS, ROOT, hm, measure, update_readme

MODES = ("none", "local:1", "local:2")
DASK_MARKERS = ("<!-- dask:start -->", "<!-- dask:end -->")
STAGES = ("ingest", "features", "candidates", "train", "evaluate", "publish", "batch")


def retrain_copy(workdir: Path, mode: str) -> dict:
    """``hm retrain`` of the held-back week on a copy of ``workdir``'s home with ``HM_DASK``."""
    home = workdir / f"dask-{mode.replace(':', '')}" / "home"
    shutil.rmtree(home.parent, ignore_errors=True)
    shutil.copytree(workdir / "home", home, symlinks=True)
    raw = workdir / "raw"
    shutil.copytree(workdir / "arrival", raw, dirs_exist_ok=True)
    env = {**os.environ, "HM_HOME": str(home), "COLUMNS": "240"}
    env.pop("HM_DASK", None)
    if mode != "none":
        env["HM_DASK"] = mode
    out = home.parent / "summary.json"
    try:
        seconds, rss, _ = measure(hm("retrain", "--raw", str(raw), "-q", "--json", str(out)), env)
        summary = json.loads(out.read_text())
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "mode": mode,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(rss),
        "stages": {s: summary["timings"].get(s) for s in STAGES},
        "peaks_gib": {s: summary["peaks"].get(s) for s in STAGES},
        "map": summary["gate"]["map"],
        "customers": summary["published"]["candidates"],
    }


def render_dask() -> str:
    """The README table: seconds per stage for each mode, and 2 workers' speedup over 1."""
    lines = []
    for path in sorted(RESULTS.glob("dask_*.json")):
        data = json.loads(path.read_text())
        runs = {r["mode"]: r for r in data["runs"]}
        head = ["stage", *[f"`HM_DASK={m}`" if m != "none" else "no cluster" for m in runs]]
        lines += [f"{data['scale']} world, {data['cores']} cores, seconds per stage:", ""]
        lines += ["| " + " | ".join([*head, "speedup 1 → 2 workers"]) + " |"]
        lines += ["|" + "---|" * (len(head) + 1)]
        for stage in (*STAGES, "whole run"):
            cells = [stage]
            for run in runs.values():
                value = run["seconds"] if stage == "whole run" else run["stages"][stage]
                cells.append(f"{value:.0f}")
            one, two = runs.get("local:1"), runs.get("local:2")
            speedup = ""
            if one and two:
                a = one["seconds"] if stage == "whole run" else one["stages"][stage]
                b = two["seconds"] if stage == "whole run" else two["stages"][stage]
                speedup = f"{a / b:.2f}x" if b else ""
            lines.append("| " + " | ".join([*cells, speedup]) + " |")
        peaks = ", ".join(f"{m}: {r['peak_rss_mb'] / 1024:.1f} GiB" for m, r in runs.items())
        maps = ", ".join(f"{m}: {r['map']:.4f}" for m, r in runs.items())
        lines += ["", f"Peak memory (process tree): {peaks}. MAP@12: {maps}.", ""]
    return "\n".join(lines)


def main() -> None:
    """Retrain in each mode; store the results; render the README table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".hm" / "bench" / "medium")
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--readme", type=Path, default=None)
    args = parser.parse_args()
    runs = []
    for mode in args.modes:
        print(f"[{args.scale}] weekly retrain, HM_DASK={mode} ...", flush=True)
        runs.append(retrain_copy(args.workdir, mode))
        print(f"[{args.scale}] {json.dumps(runs[-1])}", flush=True)
    path = RESULTS / f"dask_{args.scale}.json"
    if path.exists():  # the modes not run this time stay as measured
        kept = [r for r in json.loads(path.read_text())["runs"] if r["mode"] not in args.modes]
        runs = sorted(
            kept + runs, key=lambda r: MODES.index(r["mode"]) if r["mode"] in MODES else 9
        )
    result = {"scale": args.scale, "cores": os.cpu_count(), "runs": runs}
    path.write_text(json.dumps(result, indent=2))
    if args.readme:
        update_readme(args.readme, render_dask(), DASK_MARKERS)


if __name__ == "__main__":
    main()
