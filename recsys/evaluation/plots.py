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
