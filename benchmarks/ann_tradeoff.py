"""Recall/speed trade-off of approximate FAISS indexes (IVF, HNSW) against the exact scan.

For each catalogue (the medium world's articles; the full real H&M catalogue when present) and
encoder (metadata; pretrained text when its vectors are cached), every article vector is indexed,
``queries`` random articles ask for their ``k`` nearest neighbours, and each index is scored by
recall@k against the exact inner-product scan, with build time and single-thread queries/s.
Prints a table and writes ``benchmarks/results/ann_tradeoff.json``.

    python -m benchmarks.ann_tradeoff --medium /work/medium_home/lake \
        --full ../shared/data/hm_real/articles_full.parquet --cache /work/medium_home/embeddings
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.retrieval.ann import VectorIndex
from recsys.retrieval.encoders import encode_articles

RESULTS = Path(__file__).parent / "results" / "ann_tradeoff.json"
FAMILIES = (  # (index kind, build knobs, search knob name, search knob values)
    ("exact", {}, None, [None]),
    ("ivf", {}, "nprobe", [1, 4, 8, 16, 32]),
    ("hnsw", {"hnsw_m": 32}, "ef_search", [16, 32, 64, 128]),
)


def load_catalogue(source: str) -> pd.DataFrame:
    """Articles from a lake folder or a parquet file (article ids made int)."""
    path = Path(source)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        from recsys import schema
        from recsys.data.lake import Lake

        frame = Lake(path).read(schema.ARTICLES).to_pandas()
    return frame.assign(article_id=frame["article_id"].astype(np.int64))


def neighbours_recall(exact_scores: np.ndarray, found_scores: np.ndarray) -> float:
    """Mean share of the ``k`` slots holding a true top-``k`` neighbour.

    Scored by similarity, not id: a found neighbour counts when it is at least as close as the
    exact ``k``-th one, so ties (colour variants with identical metadata) are not misses.
    """
    kth = exact_scores[:, -1:] - 1e-5
    return float(np.mean((found_scores >= kth).sum(axis=1) / exact_scores.shape[1]))


def timed_search(index: VectorIndex, queries: np.ndarray, k: int, reps: int = 3):
    """(scores found, best queries/s over ``reps`` runs): the machine is shared, take the best."""
    best = np.inf
    for _ in range(reps):
        start = time.perf_counter()
        found = index.search(queries, k)[1]
        best = min(best, time.perf_counter() - start)
    return found, len(queries) / best


def bench_family(vectors: np.ndarray, queries: np.ndarray, k: int, family: tuple) -> list[dict]:
    """Build one index, then search it at each value of its search knob."""
    kind, build_knobs, knob, values = family
    start = time.perf_counter()
    index = VectorIndex(kind, threads=1, **build_knobs).build(np.arange(len(vectors)), vectors)
    build_s = time.perf_counter() - start
    rows = []
    for value in values:
        if knob is not None:
            index.set_search(**{knob: value})
        found, qps = timed_search(index, queries, k)
        knobs = {**build_knobs, **({knob: value} if knob else {})}
        if kind == "ivf":
            knobs["nlist"] = index.nlist
        rows.append(
            {
                "index": kind,
                **knobs,
                "build_s": round(build_s, 2),
                "qps": round(qps, 1),
                "found": found,
            }
        )
    return rows


def bench_catalogue(name: str, vectors: np.ndarray, k: int, n_queries: int, seed: int) -> list:
    """All index configurations on one set of vectors; recall against the exact scan."""
    rng = np.random.default_rng(seed)
    queries = vectors[rng.choice(len(vectors), min(n_queries, len(vectors)), replace=False)]
    rows, truth = [], None
    for family in FAMILIES:
        for row in bench_family(vectors, queries, k, family):
            found = row.pop("found")
            truth = found if truth is None else truth
            row[f"recall@{k}"] = round(neighbours_recall(truth, found), 4)
            rows.append({"catalogue": name, "n": len(vectors), "dim": vectors.shape[1], **row})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def encoders_for(articles: pd.DataFrame, cache: str | None, text: bool) -> dict[str, np.ndarray]:
    """Vectors per encoder: metadata always, pretrained text when asked (cache reused)."""
    out = {}
    start = time.perf_counter()
    out["metadata"] = encode_articles(articles, "metadata")
    print(f"metadata: {len(articles)} articles in {time.perf_counter() - start:.1f}s", flush=True)
    if text:
        start = time.perf_counter()
        out["text"] = encode_articles(articles, "text", cache_dir=cache)
        print(f"text: {len(articles)} articles in {time.perf_counter() - start:.1f}s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medium", default="/work/medium_home/lake")
    parser.add_argument("--full", default="../shared/data/hm_real/articles_full.parquet")
    parser.add_argument("--cache", default=None, help="text embedding cache folder")
    parser.add_argument(
        "--text",
        default="medium",
        choices=["none", "medium", "all"],
        help="which catalogues also get pretrained text vectors",
    )
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rows = []
    for name, source in (("medium", args.medium), ("full", args.full)):
        if not Path(source).exists():
            print(f"skip {name}: {source} not found")
            continue
        articles = load_catalogue(source)
        text = args.text == "all" or args.text == name
        for enc, vecs in encoders_for(articles, args.cache, text).items():
            rows += [
                {"encoder": enc, **r}
                for r in bench_catalogue(name, vecs, args.k, args.queries, args.seed)
            ]
    table = pd.DataFrame(rows)
    print(table.drop(columns=["dim"]).to_string(index=False))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"k": args.k, "queries": args.queries, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
