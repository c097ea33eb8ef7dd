"""The ranker fit alone, on the candidate weeks a loop run left in a home (``HM_HOME``).

Fits LambdaRank on every finished ``runs/train_week/*`` and the newest ``runs/valid_week/*``,
as the loop's train stage does, and prints one JSON line: wall seconds, the process's peak RSS,
the best iteration, its MAP@12 and a hash of the model text (equal hashes: the same model).

``HM_HOME=<home> python -m benchmarks.ranker_fit --out /tmp/ranker``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from pathlib import Path

from recsys.settings import get_settings


def finished(folder: Path) -> list[Path]:
    """The stage folders under ``folder`` that were completed, oldest first."""
    done = [p for p in folder.iterdir() if (p / "_SUCCESS").exists()]
    return sorted(done, key=lambda p: (p / "_SUCCESS").stat().st_mtime)


def main() -> None:
    from recsys.ranking.train import fit_ranker

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="Folder to save the ranker in.")
    args = parser.parse_args()
    settings = get_settings()
    runs = settings.paths.runs
    train = [p / "frame.parquet" for p in finished(runs / "train_week")]
    valid = finished(runs / "valid_week")[-1]
    start = time.perf_counter()
    ranker = fit_ranker(settings, train, valid)
    ranker.save(args.out)
    model = (args.out / "model.txt").read_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - start, 1),
                "peak_gib": round(peak, 2),
                "train_files": len(train),
                "best_iteration": ranker.best_iteration,
                "best_map": round(max(ranker.curve), 4),
                "model_sha256": hashlib.sha256(model).hexdigest()[:16],
            }
        )
    )


if __name__ == "__main__":
    main()
