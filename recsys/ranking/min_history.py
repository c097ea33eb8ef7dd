"""The history a ranker needs: weeks before the first training cutoff, and every label week."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recsys.data.lake import Lake
    from recsys.ranking.weeks import WeekPlan

WEEK = dt.timedelta(days=7)


class NotEnoughHistory(ValueError):
    """The lake holds too few weeks to train and validate a ranker."""


def check_history(lake: Lake, plan: WeekPlan, min_history_weeks: int) -> None:
    """Raise :class:`NotEnoughHistory`, naming the weeks found and needed, unless the lake holds
    ``min_history_weeks`` weeks before the first training cutoff and every training and
    validation week's purchases (the labels)."""
    weeks = [dt.date.fromisoformat(w) for w in lake.weeks()]
    history = [w for w in weeks if w < plan.train[0]]
    labels = [c + WEEK - dt.timedelta(days=1) for c in (*plan.train, plan.valid)]
    missing = [w for w in labels if w not in weeks]
    if len(history) >= min_history_weeks and not missing:
        return
    span = f" (weeks ending {weeks[0]} .. {weeks[-1]})" if weeks else ""
    needed = min_history_weeks + len(plan.train) + 1
    holes = [str(w) for w in missing if weeks and w > weeks[0]]  # gaps inside the lake's span
    gaps = f"; no purchases in the weeks ending {', '.join(holes)}" if holes else ""
    raise NotEnoughHistory(
        f"not enough history to train: the lake holds {len(weeks)} week(s){span}, "
        f"{len(history)} of them before the first training cutoff {plan.train[0]}{gaps}. "
        f"Training for {plan.predict} needs {needed} weeks: {min_history_weeks} of history "
        f"(HM_MIN_HISTORY_WEEKS), {len(plan.train)} to train on (HM_TRAIN_WEEKS) and 1 to "
        "validate. Deliver older transactions, or lower HM_TRAIN_WEEKS / HM_MIN_HISTORY_WEEKS"
    )
