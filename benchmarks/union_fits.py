"""The weekly loop's union fits: every cutoff of the plan, wall and CPU seconds per source.

``--mode within`` fits the union at the six cutoffs of the current plan (4 training weeks, the
validation week, the serving week), source by source, as ``fit_union`` does; it also works with
older code on ``PYTHONPATH`` (a before/after comparison). ``--mode store`` first fits last week's
plan into a fresh union store, then runs this week's plan through it (``fit_or_load_union``):
what next week's ``hm retrain`` pays. On the validation week each source's and the union's top
200 are hashed (identical hashes: identical candidates and scores) and their recall tabulated.

    HM_HOME=/tmp/med/home python benchmarks/union_fits.py out.json --mode within --skip twotower
    HM_HOME=/tmp/med/home python benchmarks/union_fits.py out.json --workers 2 --last 1
    HM_HOME=/tmp/full/home python benchmarks/union_fits.py o.json --workers 2 \
        --at 2020-08-26 2020-09-02
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.lake import Lake
from recsys.evaluation.recall import recall_table
from recsys.ranking.weeks import WeekPlan, plan_weeks
from recsys.retrieval.history import History, load_history, target_week
from recsys.retrieval.sources import DEFAULT_SOURCES, SourceSpec, with_home
from recsys.retrieval.union import UnionRetriever
from recsys.settings import Settings

KS = (12, 50, 100, 200)


def timed_fit(
    history: History, specs: list[SourceSpec], workers: int = 1
) -> tuple[UnionRetriever, dict]:
    """The union fitted source by source; (wall s, CPU s) per source. ``workers`` > 1: members
    side by side (``fit_union``), wall seconds per source as each process measured them."""
    if workers > 1:
        from recsys.retrieval.evaluate import fit_union

        union, fit_s = fit_union(history, specs, workers=workers)
        return union, {name: (seconds, None) for name, seconds in fit_s.items()}
    union = UnionRetriever(sources=[s.as_dict() for s in specs])
    times = {}
    for spec in specs:
        wall, cpu = time.perf_counter(), time.process_time()
        union.members[spec.name] = spec.build().fit(history)
        times[spec.name] = (time.perf_counter() - wall, time.process_time() - cpu)
    union.cutoff = history.cutoff
    return union, times


def stored_fit(
    history: History, specs: list[SourceSpec], store: Path, workers: int = 1
) -> tuple[UnionRetriever, dict]:
    """The union through the store; whether it was loaded."""
    from recsys.retrieval.fit_cache import fit_or_load_union

    union, fit_s = fit_or_load_union(history, specs, store, workers=workers)
    return union, {"loaded": not fit_s}


def validation_facts(lake: Lake, cutoff: dt.date, union: UnionRetriever) -> dict:
    """Hashes of each member's and the union's top 200 for the week's buyers, and their recall."""
    truth = target_week(lake, cutoff)
    buyers = np.unique(truth["customer_id"].to_numpy(np.int64))
    frames = {n: m.retrieve(buyers, max(KS)) for n, m in union.members.items()}
    frames["union"] = union.retrieve(buyers, max(KS))
    hashes = {
        n: hashlib.sha256(
            pd.util.hash_pandas_object(f.astype({"source": str}), index=False).to_numpy()
        ).hexdigest()[:16]
        for n, f in frames.items()
    }
    table = recall_table(frames, truth, KS)[[f"recall@{k}" for k in KS]].round(4)
    print(table.to_string(), flush=True)
    return {"buyers": len(buyers), "hashes": hashes, "recall": table.to_dict()}


def run_plan(
    lake: Lake,
    plan: WeekPlan,
    specs: list[SourceSpec],
    store: Path | None,
    workers: int = 1,
    cutoffs: list[dt.date] | None = None,
) -> dict:
    """Every cutoff of ``plan`` (or just ``cutoffs``) fitted (or loaded), in order; the
    validation week's facts."""
    out: dict = {"fits": []}
    for cutoff in cutoffs or plan.all:
        history = load_history(lake, cutoff)
        wall, cpu = time.perf_counter(), time.process_time()
        union, times = (
            timed_fit(history, specs, workers)
            if store is None
            else stored_fit(history, specs, store, workers)
        )
        times["union"] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(cutoff, times, flush=True)
        out["fits"].append({"cutoff": str(cutoff), "wall_cpu_s": times})
        if cutoff == plan.valid:
            out["valid"] = validation_facts(lake, cutoff, union)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--mode", choices=("within", "store"), default="within")
    parser.add_argument("--skip", action="append", default=[], help="source names left out")
    parser.add_argument("--workers", type=int, default=1, help="processes fitting members")
    parser.add_argument("--last", type=int, default=0, help="only the plan's last N cutoffs")
    parser.add_argument(
        "--at", type=dt.date.fromisoformat, nargs="+", help="only these cutoffs, in this order"
    )
    args = parser.parse_args()
    settings = Settings()
    lake = Lake(settings.paths.lake)
    specs = [s for s in with_home(list(DEFAULT_SOURCES), settings) if s.name not in args.skip]
    plan = plan_weeks(lake, settings.train_weeks)
    store = None
    if args.mode == "store":
        store = Path(tempfile.mkdtemp(prefix="union-store-"))
        last = plan_weeks(lake, settings.train_weeks, as_of=plan.valid - dt.timedelta(days=1))
        run_plan(lake, last, specs, store, args.workers)  # last week's run fills the store
    start, cpu = time.perf_counter(), os.times()
    result = {
        "mode": args.mode,
        "sources": [s.name for s in specs],
        "workers": args.workers,
        **run_plan(lake, plan, specs, store, args.workers, args.at or plan.all[-args.last :]),
    }
    end = os.times()
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["cpu_s"] = round(end.user - cpu.user + end.system - cpu.system, 1)
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    result["child_max_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    result["cpu_s"] += round(end.children_user - cpu.children_user, 1)
    print({k: result[k] for k in ("wall_s", "cpu_s", "max_rss_mib", "child_max_rss_mib")})
    if store is not None:
        shutil.rmtree(store, ignore_errors=True)
    args.out.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
