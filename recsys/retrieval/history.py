"""What a retriever may see: transactions strictly before a cutoff, the catalogue and customers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds

from recsys import schema
from recsys.data.lake import Lake

HISTORY_COLUMNS = [
    schema.T_DAT,
    schema.CUSTOMER_ID,
    schema.ARTICLE_ID,
    schema.PRICE,
    schema.SALES_CHANNEL_ID,
]
T = TypeVar("T")


@dataclass(frozen=True)
class History:
    """Transactions dated before ``cutoff`` plus the article and customer tables.

    ``transactions`` has ``t_dat`` (datetime64), ``customer_id`` (int64), ``article_id`` (int32),
    ``price`` (float32), ``sales_channel_id`` (int8), sorted by ``t_dat``. Every row is < cutoff:
    the constructor enforces it, so no retriever can see the target week.
    """

    cutoff: dt.date
    transactions: pd.DataFrame
    articles: pd.DataFrame
    customers: pd.DataFrame = field(repr=False)
    derived: dict[Hashable, object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # see :meth:`shared`; a copy (``dataclasses.replace``) starts empty

    def __post_init__(self) -> None:
        tx = self.transactions
        if len(tx) and tx[schema.T_DAT].max() >= pd.Timestamp(self.cutoff):
            raise ValueError(f"history holds transactions on or after its cutoff {self.cutoff}")

    @cached_property
    def days_ago(self) -> np.ndarray:
        """Days between each transaction and the cutoff (1 = the day before the cutoff)."""
        delta = pd.Timestamp(self.cutoff) - self.transactions[schema.T_DAT]
        return delta.dt.days.to_numpy(np.int32)

    def recent(self, days: int) -> pd.DataFrame:
        """Transactions of the last ``days`` days before the cutoff."""
        return self.transactions[self.days_ago <= days]

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` for this history: sources that derive the same thing
        from it (the same function with the same arguments, named by ``key``) share one result,
        which they must not change in place."""
        if key not in self.derived:
            self.derived[key] = compute()
        return self.derived[key]  # type: ignore[return-value]

    @cached_property
    def customer_age(self) -> pd.Series:
        """Age per customer id (float, NaN when unknown)."""
        return self.customers.set_index(schema.CUSTOMER_ID)["age"].astype("float32")


def load_history(lake: Lake, cutoff: dt.date, weeks: int | None = None) -> History:
    """The lake's live version seen from ``cutoff`` (optionally only the last ``weeks`` weeks)."""
    start = None if weeks is None else cutoff - dt.timedelta(weeks=weeks)
    flt = ds.field(schema.T_DAT) < pc.scalar(cutoff)
    if start is not None:
        flt = flt & (ds.field(schema.T_DAT) >= pc.scalar(start))
    table = lake.transactions_dataset().to_table(columns=HISTORY_COLUMNS, filter=flt)
    tx = table.to_pandas(date_as_object=False)
    tx[schema.T_DAT] = tx[schema.T_DAT].astype("datetime64[ns]")
    if not tx[schema.T_DAT].is_monotonic_increasing:  # week partitions are usually in order
        tx = tx.sort_values(schema.T_DAT, kind="stable", ignore_index=True)
    articles = lake.read(schema.ARTICLES).to_pandas()
    customers = lake.read(schema.CUSTOMERS, columns=[schema.CUSTOMER_ID, "age"]).to_pandas()
    return History(cutoff=cutoff, transactions=tx, articles=articles, customers=customers)


def target_week(lake: Lake, cutoff: dt.date) -> pd.DataFrame:
    """Unique ``customer_id, article_id`` bought in the 7 days from ``cutoff`` (held-out week)."""
    end = cutoff + dt.timedelta(days=7)
    flt = (ds.field(schema.T_DAT) >= pc.scalar(cutoff)) & (ds.field(schema.T_DAT) < pc.scalar(end))
    cols = [schema.CUSTOMER_ID, schema.ARTICLE_ID]
    table = lake.transactions_dataset().to_table(columns=cols, filter=flt)
    return table.to_pandas().drop_duplicates(ignore_index=True)
