"""Figures logged to MLflow (matplotlib, Agg backend; built on demand, never at import)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def recall_curves(table: pd.DataFrame, ks: Sequence[int], title: str = "Recall@K per source"):
    """Recall@k against k, one line per source (the union drawn thick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, row in table.iterrows():
        values = [row[f"recall@{k}"] for k in ks]
        ax.plot(ks, values, marker="o", label=str(name), linewidth=3 if name == "union" else 1.2)
    ax.set_xscale("log")
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_xlabel("candidates per customer (k)")
    ax.set_ylabel("recall@k (mean over buyers)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def map_comparison(table: pd.DataFrame, metric: str = "map@12", title: str | None = None):
    """Horizontal bars of ``metric`` per model/baseline/source (the ranker highlighted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = table[metric].sort_values()
    colours = ["tab:red" if name == "ranker" else "tab:grey" for name in values.index]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(values) + 1.2))
    ax.barh([str(i) for i in values.index], values.to_numpy(), color=colours)
    for y, v in enumerate(values.to_numpy()):
        ax.text(v, y, f" {v:.4f}", va="center", fontsize=8)
    ax.set_xlabel(metric)
    ax.set_title(title or f"{metric} on the validation week")
    fig.tight_layout()
    return fig


def importance_plot(importance: pd.Series, top: int = 30):
    """The ``top`` features by total gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    head = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(head) + 1.2))
    ax.barh(head.index.astype(str), head.to_numpy(), color="tab:blue")
    ax.set_xlabel("total gain")
    ax.set_title(f"LightGBM feature importance (top {len(head)})")
    fig.tight_layout()
    return fig


def learning_curve(curve: list[float], best_iteration: int):
    """Validation MAP@12 per boosting round, the kept round marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(curve) + 1), curve)
    if best_iteration:
        ax.axvline(best_iteration, color="tab:red", linestyle="--", label="kept")
        ax.legend()
    ax.set_xlabel("boosting round")
    ax.set_ylabel("validation MAP@12")
    fig.tight_layout()
    return fig
