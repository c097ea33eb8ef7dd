"""`make bench`: time and peak memory of each platform step at several scales; results -> README.

Each step runs as its own `hm` process so that its peak RSS is its own (``os.wait4``). Results
are kept in ``benchmarks/results/<scale>.json`` and rendered into README.md between the markers
``<!-- bench:start -->`` and ``<!-- bench:end -->``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SCALES = ("tiny", "small", "medium", "full")


@dataclass
class StepResult:
    """One measured step."""

    scale: str
    step: str
    seconds: float
    peak_rss_mb: float
    detail: str = ""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB, its output). Raises on failure.

    The peak is the larger of the process's own high-water mark and the sampled sum over its
    process tree (the workers it forks count too)."""
    from flows.clock import TreePeak

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    with TreePeak(pid=proc.pid) as tree:
        output = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, max(usage.ru_maxrss / 1024, tree.peak / 2**20), output


def hm(*args: str) -> list[str]:
    """The command line of an `hm` call in this interpreter."""
    return [sys.executable, "-m", "recsys.cli", *args]


def bench_scale(
    scale: str, workdir: Path, seed: int, only: list[str] | None = None
) -> list[StepResult]:
    """Generate, ingest (with validation), build features, materialize, read online, retrieve.

    With ``only`` (substrings of step names), just those steps run, on the workdir of an
    earlier full run of this scale (kept, not wiped).
    """
    env = {**os.environ, "HM_HOME": str(workdir / "home"), "COLUMNS": "240"}
    raw, arrival = workdir / "raw", workdir / "arrival"
    if not only:
        shutil.rmtree(workdir, ignore_errors=True)
    results = []
    before = {  # what a step needs done first, outside its measurement
        "ingest + validate": lambda: hold_back_last_week(raw, arrival),
        "weekly retrain": lambda: shutil.copytree(arrival, raw, dirs_exist_ok=True),
    }
    steps = [
        (
            "generate",
            hm("generate", "--scale", scale, "--seed", str(seed), "--out", str(raw), "-q"),
        ),
        ("ingest + validate", hm("ingest", "--raw", str(raw), "-q")),
        ("validate (lake)", hm("validate", "-q")),
        ("features build (1 cutoff)", hm("features", "build", "--weeks", "1", "-q")),
        ("features materialize (SQLite)", hm("features", "materialize", "-q")),
        (
            "online read 1 customer + 200 articles",
            [sys.executable, "-m", "benchmarks.online_latency"],
        ),
        (
            "retrieval eval (all sources + union)",
            hm("retrieval", "eval", "-q", "--json", str(RESULTS / f"retrieval_{scale}.json")),
        ),
        (
            "pipeline (train, evaluate, register, submission)",
            hm(
                "pipeline",
                "-q",
                "--out",
                str(workdir / "submission.csv"),
                "--json",
                str(RESULTS / f"pipeline_{scale}.json"),
            ),
        ),
        (
            "serving latency (in process; HTTP closed and open loop, 1 and 2 workers; floor)",
            [
                sys.executable,
                "-m",
                "benchmarks.serving_latency",
                "--json",
                str(RESULTS / f"serving_{scale}.json"),
            ],
        ),
        (
            "weekly retrain (the held-back week arrives)",
            hm(
                "retrain", "--raw", str(raw), "-q", "--json", str(RESULTS / f"retrain_{scale}.json")
            ),
        ),
    ]
    if only:
        steps = [(step, cmd) for step, cmd in steps if any(o in step for o in only)]
    for step, cmd in steps:
        for name, prepare in before.items():
            if step.startswith(name):
                prepare()
        print(f"[{scale}] {step} ...", flush=True)
        seconds, rss, output = measure(cmd, env)
        detail = _detail(step, raw, output)
        results.append(StepResult(scale, step, round(seconds, 1), round(rss), detail))
        print(f"[{scale}] {step}: {seconds:.1f}s, peak {rss:.0f} MiB  {detail}", flush=True)
    return results


def hold_back_last_week(raw: Path, arrival: Path) -> Path:
    """Move the last week's rows of ``raw``'s transactions into ``arrival/transactions/
    <week end>.csv`` (a week file, as a week arrives): the loop first runs without them."""
    import datetime as dt

    path = raw / "transactions_train.csv"
    last = b""
    with path.open("rb") as fh:
        next(fh)
        for line in fh:
            last = max(last, line[:10])
    end = dt.date.fromisoformat(last.decode())
    start = (end - dt.timedelta(days=6)).isoformat().encode()
    week = arrival / "transactions" / f"{end}.csv"
    week.parent.mkdir(parents=True, exist_ok=True)
    kept = path.with_suffix(".kept")
    with path.open("rb") as src, kept.open("wb") as old, week.open("wb") as new:
        header = next(src)
        old.write(header)
        new.write(header)
        for line in src:
            (new if line[:10] >= start else old).write(line)
    os.replace(kept, path)
    return week


def _detail(step: str, raw: Path, output: str) -> str:
    """A short description of the data a step worked on (sizes, stage timings, latencies)."""
    text = " ".join(output.split())
    if step == "generate":
        rows = re.search(r"([\d,]+) transactions", text)
        size = (raw / "transactions_train.csv").stat().st_size / 2**20
        shown = f"{size / 1024:.2f} GiB" if size >= 1024 else f"{size:.0f} MiB"
        return f"{rows.group(1) if rows else '?'} transactions, {shown} CSV"
    if step.startswith("online read"):
        found = re.search(r"\{.*\}", text)
        return _latency_note(json.loads(found.group(0))) if found else ""
    if step.startswith("features materialize"):
        found = re.search(r"materialized .*", text)
        return found.group(0) if found else ""
    if step.startswith("pipeline") or step.startswith("weekly retrain"):
        found = re.search(r"ranker MAP@12 [\d.]+ = [\d.]+x \w+ \([\d.]+\)", text)
        return found.group(0) if found else ""
    if step.startswith("serving latency"):
        found = re.search(r"\{.*\}", text)
        if not found:
            return ""
        r = json.loads(found.group(0))
        p = r["in_process"]["recommend"]
        return f"in process p50/p95/p99 {p['p50']}/{p['p95']}/{p['p99']} ms (see Serving)"
    if step.startswith("retrieval eval"):
        found = re.search(r"cutoff .*?best single source \(\w+\) recall@\d+ [\d.]+", text)
        return found.group(0) if found else ""
    laps = re.search(r"\((articles\+customers [^)]*)\)", text)
    return f"stages: {laps.group(1)}" if laps else ""


def _latency_note(result: dict) -> str:
    """p50/p95/p99 of the fast path next to the Feast SDK on the same rows."""
    fast, sdk = result["fast"], result["sdk"]
    return (
        f"fast path p50/p95/p99 {fast['p50']}/{fast['p95']}/{fast['p99']} ms; "
        f"Feast SDK same rows {sdk['p50']}/{sdk['p95']}/{sdk['p99']} ms; "
        f"article cache load {result['cache_load_s']} s"
    )


def merge_steps(old: list[dict], new: list[dict]) -> list[dict]:
    """Earlier results with the re-measured steps replaced (new steps appended)."""
    fresh = {r["step"]: r for r in new}
    merged = [fresh.pop(r["step"], r) for r in old]
    return merged + list(fresh.values())


def render(results: list[dict]) -> str:
    """The README table."""
    rows = [
        "| scale | step | wall time | peak RSS | notes |",
        "|---|---|---:|---:|---|",
    ]
    for r in results:
        rows.append(
            f"| {r['scale']} | {r['step']} | {r['seconds']:.1f} s | {r['peak_rss_mb']:,.0f} MiB "
            f"| {r['detail']} |"
        )
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    stamp = dt.date.today().isoformat()
    return "\n".join([f"Measured {stamp} on {machine} by `make bench`.", "", *rows])


def render_retrieval() -> str:
    """Recall tables of `hm retrieval eval` per scale (from benchmarks/results/retrieval_*.json)."""
    parts = []
    for scale in SCALES:
        path = RESULTS / f"retrieval_{scale}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        ks = data["ks"]
        peak = any("peak_gib" in r for r in data["table"])
        head = "| source | " + " | ".join(f"recall@{k}" for k in ks) + " | fit s | retrieve s |"
        rows = [head + (" peak GiB |" if peak else ""), "|---|" + "---:|" * (len(ks) + 2 + peak)]
        for r in data["table"]:
            name = f"**{r['source']}**" if r["source"] == "union" else r["source"]
            cells = " | ".join(f"{r[f'recall@{k}']:.4f}" for k in ks)
            extra = f" {r['peak_gib']:.1f} |" if peak else ""
            rows.append(f"| {name} | {cells} | {r['fit_s']:.1f} | {r['retrieve_s']:.1f} |{extra}")
        title = (
            f"**{scale}** (held-out week from {data['cutoff']}, {data['buyers']:,} buyers; "
            f"union cut to {data['union_k']} candidates"
            + (f"; {data['note']}" if data.get("note") else "")
            + "):"
        )
        parts += [title, "", *rows, ""]
        if data.get("peak_gib"):
            peaks = ", ".join(f"{k} {v:.1f}" for k, v in data["peak_gib"].items())
            parts += [f"Peak memory after each step (GiB): {peaks}.", ""]
    return "\n".join(parts).rstrip()


def pipeline_figures(data: dict) -> dict:
    """What the README shows of a `hm pipeline --json` file: the run's summary (older files,
    written before the loop had one sequencer, hold the same figures under other keys)."""
    if "plan" not in data:
        return {
            "valid": data["valid_cutoff"],
            "weeks": len(data["train_cutoffs"]),
            "candidates": data["candidates"],
            "table": data["table"],
            "timings": data["timings"],
            "peaks": data.get("peak_gib") or {},
        }
    table = list(data["gate"]["table"])
    if data["gate"].get("binary_map") is not None:
        table.append({"model": "ranker (binary)", "map@12": data["gate"]["binary_map"]})
    return {
        "valid": data["plan"]["valid"],
        "weeks": len(data["plan"]["train"]),
        "candidates": data["settings"]["candidates"],
        "table": table,
        "timings": data["timings"],
        "peaks": data["peaks"],
    }


def render_pipeline() -> str:
    """MAP@12 tables of `hm pipeline` per scale (from benchmarks/results/pipeline_*.json)."""
    parts = []
    for scale in SCALES:
        path = RESULTS / f"pipeline_{scale}.json"
        if not path.exists():
            continue
        data = pipeline_figures(json.loads(path.read_text()))
        rows = [
            "| model | MAP@12 | recall@12 | NDCG@12 | hit rate@12 |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in data["table"]:
            name = f"**{r['model']}**" if r["model"] == "ranker" else r["model"]
            cells = [f"{r[c]:.4f}" if c in r else "" for c in METRICS]
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        laps = ", ".join(f"{k} {v:.0f} s" for k, v in data["timings"].items())
        title = (
            f"**{scale}** (validation week from {data['valid']}, trained on "
            f"{data['weeks']} weeks, {data['candidates']} candidates; {laps}):"
        )
        parts += [title, "", *rows, ""]
        if data["peaks"]:
            peaks = ", ".join(f"{k} {v:.1f}" for k, v in data["peaks"].items())
            parts += [f"Peak memory after each step (GiB): {peaks}.", ""]
    return "\n".join(parts).rstrip()


METRICS = ("map@12", "recall@12", "ndcg@12", "hit_rate@12")
PIPELINE_MARKERS = ("<!-- pipeline:start -->", "<!-- pipeline:end -->")
SERVING_MARKERS = ("<!-- serving:start -->", "<!-- serving:end -->")


def render_serving() -> str:
    """Latency tables of the serving bench per scale (benchmarks/results/serving_*.json)."""
    rows = [
        "| scale | path | p50 | p95 | p99 | throughput | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for scale in SCALES:
        path = RESULTS / f"serving_{scale}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        ours, sdk = r["in_process"]["recommend"], r["in_process"]["feast_sdk_same_rows"]
        n = r["in_process"]["candidates_mean"]
        first = r["in_process"]["recommend_first_touch"]
        rows.append(_latency_row(scale, f"`Recommender.recommend`, {n:.0f} candidates", ours))
        rows.append(_latency_row(scale, "the same, first touch of the candidate pages", first))
        if "recommend_viewing" in r["in_process"]:
            label = "`Recommender.recommend` with a viewed article (similar items + ranking)"
            rows.append(_latency_row(scale, label, r["in_process"]["recommend_viewing"]))
        rows.append(_latency_row(scale, "naive: Feast SDK `get_online_features`, same rows", sdk))
        rows += _http_rows(scale, [*r["http"], *r.get("http_floor", [])])
    floor = RESULTS / "http_floor.json"  # `python -m benchmarks.serving_latency --floor-only`
    if floor.exists():
        rows += _http_rows("any", json.loads(floor.read_text())["http_floor"])
    return "\n".join(rows)


def _http_rows(scale: str, runs: list[dict]) -> list[str]:
    """Table rows of HTTP load runs."""
    return [
        _latency_row(scale, _http_label(h), h, f"{h['rps']:.0f} req/s", h["errors"]) for h in runs
    ]


def _http_label(h: dict) -> str:
    """A closed-loop row (``N concurrent``), an open-loop one (``R req/s offered``), the floor."""
    if h.get("rate"):
        load = f"open loop {h['rate']:.0f} req/s offered (<= {h['concurrency']} in flight)"
    else:
        load = f"{h['concurrency']} concurrent"
    if h.get("floor"):
        return f"floor: constant answer ({h['floor']}), {load}, {h['workers']} worker(s)"
    route = ROUTES.get(h.get("route", ""), "HTTP GET")
    return f"{route}, {load}, {h['workers']} worker(s)"


ROUTES = {
    "GET ahead": "**HTTP GET, answered ahead** (`hm serve` default)",
    "GET real time": "HTTP GET ranked per request (`HM_SERVE_PRECOMPUTE=false`)",
    "POST viewing": "HTTP POST with a viewed article (ranked per request)",
}


def _latency_row(scale: str, label: str, p: dict, rate: str = "", errors: object = "") -> str:
    """One table row of p50/p95/p99 in ms."""
    return (
        f"| {scale} | {label} | {p['p50']} ms | {p['p95']} ms | {p['p99']} ms | {rate} | {errors} |"
    )


COST_MARKERS = ("<!-- cost:start -->", "<!-- cost:end -->")
SUPERLINEAR = 1.15  # growth exponents above this are flagged


def cost_points() -> dict[str, dict]:
    """Per measured scale: its size and each stage's (wall s, peak GiB), all from that scale's
    one `hm pipeline` run (benchmarks/results/pipeline_<scale>.json), and the whole of the
    weekly retrain that followed it (``retrain_<scale>.json``), when measured."""
    points = {}
    for scale in SCALES:
        pipeline = RESULTS / f"pipeline_{scale}.json"
        if not pipeline.exists():
            continue
        run = json.loads(pipeline.read_text())
        if "plan" not in run:  # written before the loop had one sequencer: no sizes
            continue
        cost = {
            stage: (seconds, run["peaks"].get(stage, 0.0))
            for stage, seconds in run["timings"].items()
        }
        cost["whole loop"] = (sum(run["timings"].values()), max(run["peaks"].values(), default=0))
        retrain = RESULTS / f"retrain_{scale}.json"
        if retrain.exists():  # the next week's run on the home the loop left
            week = json.loads(retrain.read_text())
            peak = max(week["peaks"].values(), default=0)
            cost["weekly retrain (a week arrives)"] = (sum(week["timings"].values()), peak)
        points[scale] = {"rows": run["data"]["rows"], "cost": cost}
    return points


def exponent(small: float, large: float, n_small: int, n_large: int) -> float | None:
    """The growth exponent b of cost ~ n^b between two sizes (None when not measurable)."""
    import math

    if min(small, large) < 1.0 or n_large <= n_small:
        return None
    return math.log(large / small) / math.log(n_large / n_small)


def render_cost_curve() -> str:
    """Wall time and peak memory per step against the world's size, with the growth exponent
    between the two largest scales measured (flagged when it exceeds :data:`SUPERLINEAR`)."""
    points = cost_points()
    if not points:
        return "(no scale measured with sizes yet: run `make bench`)"
    scales = list(points)
    sizes = [
        f"{s}: {p['rows']['transactions']:,} tx, {p['rows']['customers']:,} customers"
        for s, p in points.items()
    ]
    head = "| stage | " + " | ".join(f"{s} s / GiB" for s in scales) + " | growth exponent |"
    rows = [head, "|---|" + "---:|" * (len(scales) + 1)]
    steps = list(dict.fromkeys(step for s in scales for step in points[s]["cost"]))
    for step in steps:
        cells = [
            f"{c[0]:,.0f} / {c[1]:.1f}" if (c := points[s]["cost"].get(step)) else ""
            for s in scales
        ]
        growth = ""
        if len(scales) >= 2 and all(step in points[s]["cost"] for s in scales[-2:]):
            a, b = (points[s]["cost"][step][0] for s in scales[-2:])
            n_a, n_b = (points[s]["rows"]["transactions"] for s in scales[-2:])
            b_ = exponent(a, b, n_a, n_b)
            growth = "" if b_ is None else f"{b_:.2f}" + (" **super-linear**" * (b_ > SUPERLINEAR))
        rows.append(f"| {step} | " + " | ".join(cells) + f" | {growth} |")
    note = f"Sizes: {'; '.join(sizes)}."
    if len(scales) >= 2:
        note += f" Growth exponent b of wall time ~ transactions^b, {scales[-2]} to {scales[-1]}."
    return "\n".join([note, "", *rows])


RETRIEVAL_MARKERS = ("<!-- retrieval:start -->", "<!-- retrieval:end -->")


def update_readme(readme: Path, table: str, markers: tuple[str, str] = (START, END)) -> None:
    """Replace the text between ``markers`` in the README (appended if absent)."""
    start, end = markers
    text = readme.read_text()
    if start not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")


def main() -> None:
    """Parse arguments, run the scales, store and render the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", nargs="+", default=list(SCALES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".hm" / "bench")
    parser.add_argument("--readme", type=Path, default=None)
    parser.add_argument("--only", nargs="+", help="Only steps whose name holds one of these.")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for scale in args.scales:
        results = [
            asdict(r) for r in bench_scale(scale, args.workdir / scale, args.seed, args.only)
        ]
        path = RESULTS / f"{scale}.json"
        if args.only and path.exists():
            results = merge_steps(json.loads(path.read_text()), results)
        path.write_text(json.dumps(results, indent=2))
    if args.readme:
        stored = []
        for scale in SCALES:
            path = RESULTS / f"{scale}.json"
            stored += json.loads(path.read_text()) if path.exists() else []
        update_readme(args.readme, render(stored))
        update_readme(args.readme, render_cost_curve(), COST_MARKERS)
        update_readme(args.readme, render_retrieval(), RETRIEVAL_MARKERS)
        update_readme(args.readme, render_pipeline(), PIPELINE_MARKERS)
        update_readme(args.readme, render_serving(), SERVING_MARKERS)


if __name__ == "__main__":
    main()
