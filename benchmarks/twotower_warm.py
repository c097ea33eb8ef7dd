"""Two-tower warm start: cold fits against warm fits from an anchor 1, 2 and 3 weeks earlier.

At each of the last ``--cutoffs`` validation cutoffs of the lake: the cold fit (``epochs``), a
cold fit of ``warm_epochs`` epochs (what the warm start must beat) and warm fits (``warm_epochs``
from the cold fit at the anchor). Fit wall and CPU seconds (an anchor's own fit not counted) and
recall@12/50/100/200 of the held-out week's buyers.

    HM_HOME=/tmp/warm/home python benchmarks/twotower_warm.py out.json --cutoffs 3 --lags 1 2 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from recsys.data.lake import Lake
from recsys.evaluation.recall import recall_table
from recsys.ranking.weeks import plan_weeks
from recsys.retrieval.history import History, load_history, target_week
from recsys.retrieval.twotower import TwoTowerRetriever
from recsys.settings import Settings

KS = (12, 50, 100, 200)
WEEK = dt.timedelta(weeks=1)


def timed(history: History, anchor: TwoTowerRetriever | None, **params) -> tuple:
    """A two-tower trained on ``history`` (warm from ``anchor`` if given); (wall s, CPU s)."""
    model = TwoTowerRetriever(**params, anchor_weeks=0)
    wall, cpu = time.perf_counter(), time.process_time()
    model._train(history, anchor)
    model.cutoff = history.cutoff
    return model, (time.perf_counter() - wall, time.process_time() - cpu)


def recall(lake: Lake, model: TwoTowerRetriever) -> dict[str, float]:
    """Recall@KS of ``model``'s top 200 for the buyers of the week after its cutoff."""
    truth = target_week(lake, model.cutoff)
    buyers = np.unique(truth["customer_id"].to_numpy(np.int64))
    table = recall_table({"m": model.retrieve(buyers, max(KS))}, truth, KS)
    return {f"recall@{k}": round(float(table.loc["m", f"recall@{k}"]), 4) for k in KS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cutoffs", type=int, default=3)
    parser.add_argument("--lags", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--warm-epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="more cold fits")
    args = parser.parse_args()
    lake = Lake(Settings().paths.lake)
    valid = plan_weeks(lake, 1).valid
    cutoffs = [valid - WEEK * i for i in range(args.cutoffs - 1, -1, -1)]
    anchors: dict[dt.date, TwoTowerRetriever] = {}
    rows = []
    for cutoff in cutoffs:
        history = load_history(lake, cutoff)
        runs = {"cold": (None, {}), f"cold{args.warm_epochs}": (None, {"epochs": args.warm_epochs})}
        for seed in args.seeds:  # the cold fit's spread over seeds: the noise
            runs[f"cold-seed{seed}"] = (None, {"seed": seed})
        for lag in args.lags:
            day = cutoff - WEEK * lag
            if day not in anchors:
                anchors[day] = TwoTowerRetriever(anchor_weeks=0).fit(load_history(lake, day))
            runs[f"warm-{lag}w"] = (anchors[day], {"warm_epochs": args.warm_epochs})
        for name, (anchor, params) in runs.items():
            model, (wall, cpu) = timed(history, anchor, **params)
            if name == "cold":
                anchors.setdefault(cutoff, model)
            row = {"cutoff": str(cutoff), "fit": name, "wall_s": round(wall, 1)}
            row |= {"cpu_s": round(cpu, 1), "losses": model.losses, **recall(lake, model)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
