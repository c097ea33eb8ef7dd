"""The typed summary of one ``weekly-retrain`` run, and its markdown.

Every stage returns its part; the flow assembles a :class:`RunSummary`. The same markdown is the
run's Prefect artifact and what ``hm run``, ``hm retrain`` and ``hm pipeline`` print;
``hm pipeline --json`` writes the summary itself (``make bench`` renders the README from it).
"""

from __future__ import annotations

from pydantic import BaseModel

from recsys.ranking.baselines import BASELINE


class PlanFacts(BaseModel):
    """The weeks of the run: training cutoffs, validation cutoff, the predicted week."""

    train: list[str]
    valid: str
    predict: str


class DataFacts(BaseModel):
    """The live lake version after ingest."""

    version: str
    ingested: bool  # a new version was published by this run
    rows: dict[str, int]
    first_date: str | None
    last_date: str | None
    validated: bool


class FeatureFacts(BaseModel):
    """The weekly snapshots the run needed and the Feast registry."""

    cutoffs: list[str]
    built: int
    kept: int
    features: int
    views: int


class GateFacts(BaseModel):
    """The evaluation on the validation week and the champion gate's decision."""

    version: str
    run_id: str
    promoted: bool
    reason: str
    map: float
    champion_version: str | None = None
    champion_map: float | None = None
    table: list[dict]  # a row per model: model, map@12, recall@12, ndcg@12, hit_rate@12
    recall: dict[str, float]  # the candidate pool's recall@K
    segments: list[dict] | None = None  # active vs dormant buyers
    binary_map: float | None = None

    def map_of(self, model: str) -> float | None:
        """MAP@12 of a row of the comparison table (None if absent)."""
        return next((r["map@12"] for r in self.table if r["model"] == model), None)


class PublishedFacts(BaseModel):
    """What serving sees after the run: online features, champion, candidates, answers."""

    cutoff: str
    features_version: str | None
    materialized: bool  # False: the online store already held this snapshot
    customer_rows: int
    article_rows: int
    champion: str | None
    candidates: int  # customers with precomputed candidates
    answers: int  # customers whose context-free list was ranked ahead


class BatchFacts(BaseModel):
    """The submission written by the batch."""

    path: str
    version: str
    cutoff: str
    rows: int


class RunSummary(BaseModel):
    """One run of the weekly loop, stage by stage, with wall time and peak memory."""

    plan: PlanFacts
    data: DataFacts
    features: FeatureFacts
    gate: GateFacts
    published: PublishedFacts
    batch: BatchFacts
    timings: dict[str, float]
    peaks: dict[str, float]
    settings: dict[str, object]

    def markdown(self) -> str:
        """The run's report: data, features, recall, MAP@12 vs baselines, gate, swap, batch."""
        return "\n\n".join(
            [
                f"# Weekly retrain: predicting the week from {self.plan.predict}",
                _plan(self.plan),
                "## Data checks",
                _data(self.data),
                "## Features",
                _features(self.features),
                "## Candidate recall (validation week)",
                _recall(self.gate.recall),
                "## MAP@12 vs baselines and the champion (same week)",
                _models(self.gate),
                *_segments(self.gate),
                "## Decision",
                _decision(self.gate),
                "## Published for serving",
                _published(self.published),
                "## Batch",
                f"{self.batch.path}: {self.batch.rows:,} customers, model v{self.batch.version}, "
                f"week from {self.batch.cutoff}.",
                "## Time and memory",
                _table(
                    ["stage", "wall s", "peak GiB"],
                    [
                        [k, f"{v:.1f}", f"{self.peaks.get(k, 0):.2f}"]
                        for k, v in self.timings.items()
                    ],
                ),
            ]
        )


def _table(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _plan(plan: PlanFacts) -> str:
    """One line: which weeks trained, validated and are predicted."""
    return f"Trained on the weeks from {', '.join(plan.train)}; validated on {plan.valid}."


def _data(data: DataFacts) -> str:
    """The lake version, whether this run ingested it, its rows and dates."""
    state = "new version" if data.ingested else "unchanged"
    return _table(
        ["lake version", "ingest", "validated", "dates", *data.rows],
        [
            [
                data.version,
                state,
                data.validated,
                f"{data.first_date} .. {data.last_date}",
                *(f"{n:,}" for n in data.rows.values()),
            ]
        ],
    )


def _features(feats: FeatureFacts) -> str:
    """Snapshots built and kept, features and views."""
    return _table(
        ["cutoffs", "snapshots built", "kept", "features", "views"],
        [[", ".join(feats.cutoffs), feats.built, feats.kept, feats.features, feats.views]],
    )


def _recall(recall: dict[str, float]) -> str:
    """The candidate pool's recall@K and candidates per buyer."""
    cols = [k for k in recall if k.startswith("recall@")] + ["candidates_per_buyer"]
    return _table(
        cols, [[f"{recall[c]:.4f}" if c != cols[-1] else f"{recall[c]:.0f}" for c in cols]]
    )


def _models(gate: GateFacts) -> str:
    """MAP@12 and friends of the ranker, baselines and sources, plus the champion."""
    metrics = ("map@12", "recall@12", "ndcg@12", "hit_rate@12")
    rows = [[r["model"], *(f"{r[c]:.4f}" for c in metrics)] for r in gate.table]
    if gate.binary_map is not None:
        rows.append(["ranker (binary)", f"{gate.binary_map:.4f}", "", "", ""])
    if gate.champion_map is not None:
        rows.append(
            [f"champion (v{gate.champion_version})", f"{gate.champion_map:.4f}", "", "", ""]
        )
    table = _table(["model", "MAP@12", "recall@12", "NDCG@12", "hit rate"], rows)
    base = gate.map_of(BASELINE)
    ratio = f"\n\nranker MAP@12 {gate.map:.4f} = {gate.map / base:.2f}x {BASELINE} ({base:.4f})"
    return table + (ratio if base else "")


def _segments(gate: GateFacts) -> list[str]:
    """Active vs dormant buyers, when the run splits them."""
    if not gate.segments:
        return []
    rows = [[r["segment"], r["buyers"], f"{r['map@12']:.4f}"] for r in gate.segments]
    return ["## Active and dormant buyers", _table(["segment", "buyers", "MAP@12"], rows)]


def _decision(gate: GateFacts) -> str:
    """The gate's verdict on the new version."""
    verdict = "**promoted** to champion" if gate.promoted else "kept as challenger"
    return f"hm-ranker version {gate.version} {verdict}: {gate.reason} (MLflow run {gate.run_id})."


def _published(pub: PublishedFacts) -> str:
    """Online features, champion, candidates and answers ranked ahead."""
    state = "materialized" if pub.materialized else "already online"
    return _table(
        ["champion", "features", "online rows", "customers with candidates", "answers ahead"],
        [
            [
                f"v{pub.champion}" if pub.champion else "none",
                f"{pub.features_version} ({state})",
                f"{pub.customer_rows:,} customers, {pub.article_rows:,} articles",
                f"{pub.candidates:,}",
                f"{pub.answers:,}",
            ]
        ],
    )
