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


@dataclass
class StepResult:
    """One measured step."""

    scale: str
    step: str
    seconds: float
    peak_rss_mb: float
    detail: str = ""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB, its output). Raises on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def hm(*args: str) -> list[str]:
    """The command line of an `hm` call in this interpreter."""
    return [sys.executable, "-m", "recsys.cli", *args]


def bench_scale(scale: str, workdir: Path, seed: int) -> list[StepResult]:
    """Generate, ingest (with validation), build features, materialize, read online."""
    env = {**os.environ, "HM_HOME": str(workdir / "home"), "COLUMNS": "240"}
    raw = workdir / "raw"
    shutil.rmtree(workdir, ignore_errors=True)
    results = []
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
    ]
    for step, cmd in steps:
        print(f"[{scale}] {step} ...", flush=True)
        seconds, rss, output = measure(cmd, env)
        detail = _detail(step, raw, output)
        results.append(StepResult(scale, step, round(seconds, 1), round(rss), detail))
        print(f"[{scale}] {step}: {seconds:.1f}s, peak {rss:.0f} MiB  {detail}", flush=True)
    return results


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


def update_readme(readme: Path, table: str) -> None:
    """Replace the text between the bench markers of the README."""
    text = readme.read_text()
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def main() -> None:
    """Parse arguments, run the scales, store and render the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", nargs="+", default=["tiny", "medium", "full"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".hm" / "bench")
    parser.add_argument("--readme", type=Path, default=None)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for scale in args.scales:
        results = bench_scale(scale, args.workdir / scale, args.seed)
        (RESULTS / f"{scale}.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    if args.readme:
        stored = []
        for scale in ("tiny", "small", "medium", "full"):
            path = RESULTS / f"{scale}.json"
            stored += json.loads(path.read_text()) if path.exists() else []
        update_readme(args.readme, render(stored))


if __name__ == "__main__":
    main()
