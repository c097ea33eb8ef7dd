"""Cutoff dates of feature snapshots: Wednesdays, the first day of the week a snapshot serves."""

from __future__ import annotations

import datetime as dt

from recsys import schema
from recsys.data.lake import Lake

WEEK = dt.timedelta(days=7)


def last_closed_tuesday(day: dt.date) -> dt.date:
    """The latest Tuesday on or before ``day`` (the end of the last complete week)."""
    return day - dt.timedelta(days=(day.weekday() - schema.WEEK_END_WEEKDAY) % 7)


def last_transaction_date(lake: Lake) -> dt.date:
    """The last ``t_dat`` of the live lake version (manifest, else the newest partition)."""
    last = lake.manifest().get("last_date")
    if last:
        return dt.date.fromisoformat(str(last)[:10])
    weeks = lake.weeks()
    if not weeks:
        raise ValueError(f"the lake at {lake.root} holds no transactions")
    table = lake.transactions(columns=[schema.T_DAT], weeks=[weeks[-1]]).to_table()
    return max(table.column(schema.T_DAT).to_pylist())


def default_cutoffs(lake: Lake, n_weeks: int) -> list[dt.date]:
    """The last ``n_weeks`` cutoffs, oldest first.

    The newest cutoff is the day after the last Tuesday-closed week of the data, i.e. the
    Wednesday to serve right after the data (last ``t_dat`` 2020-09-22, a Tuesday -> 2020-09-23).
    If the data ends mid-week, that partial week is not closed: last ``t_dat`` Saturday
    2020-09-19 -> newest cutoff 2020-09-16.
    """
    if n_weeks < 1:
        raise ValueError(f"n_weeks must be >= 1, got {n_weeks}")
    newest = last_closed_tuesday(last_transaction_date(lake)) + dt.timedelta(days=1)
    return [newest - k * WEEK for k in range(n_weeks - 1, -1, -1)]


def window_start(cutoff: dt.date, days: int | None) -> dt.date | None:
    """First day inside a window of ``days`` days ending the day before ``cutoff`` (None: all)."""
    return None if days is None else cutoff - dt.timedelta(days=days)
