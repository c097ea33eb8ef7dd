"""The markdown summary every weekly run leaves as a Prefect artifact (and prints)."""

from __future__ import annotations


def _table(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _models(gate: dict) -> str:
    """MAP@12 and friends of the ranker, baselines and sources, plus the champion."""
    rows = [
        [r["model"], *(f"{r[c]:.4f}" for c in ("map@12", "recall@12", "ndcg@12", "hit_rate@12"))]
        for r in gate["table"]
    ]
    if gate["champion"]:
        rows.append(
            [f"champion (v{gate['champion']['version']})", f"{gate['champion']['map']:.4f}"]
        )
    return _table(["model", "MAP@12", "recall@12", "NDCG@12", "hit rate"], rows)


def weekly_report(summary: dict) -> str:
    """Data checks, features, candidate recall, MAP@12 vs baselines and champion, decision."""
    data, feats, gate = summary["data"], summary["features"], summary["gate"]
    recall = {k: v for k, v in gate["recall"].items() if k.startswith("recall@")}
    verdict = "**promoted** to champion" if gate["promoted"] else "kept as challenger"
    return "\n\n".join(
        [
            f"# Weekly retrain: predicting the week from {summary['plan']['predict']}",
            "## Data checks",
            _table(
                ["lake version", "validated", "last date", *data["rows"]],
                [[data["version"], data["validated"], data["last_date"], *data["rows"].values()]],
            ),
            "## Features",
            _table(
                ["cutoffs", "snapshots built", "kept", "features", "views", "materialized rows"],
                [
                    [
                        ", ".join(feats["cutoffs"]),
                        feats["built"],
                        feats["kept"],
                        feats["features"],
                        feats["feature_views"],
                        summary.get("materialized", "-"),
                    ]
                ],
            ),
            "## Candidate recall (validation week)",
            _table(list(recall), [[f"{v:.4f}" for v in recall.values()]]),
            "## MAP@12 vs baselines and the champion (same week)",
            _models(gate),
            f"## Decision\nhm-ranker version {gate['version']} {verdict}: {gate['reason']}.",
            f"## Batch\n{summary['batch']['path']} (champion v{summary['batch']['champion']}).",
        ]
    )
