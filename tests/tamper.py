"""Rewriting the lake's transactions on or after a date, to prove nothing reads them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys import schema
from recsys.data.lake import Lake


def tamper_after(lake_root: Path, cutoff: dt.date) -> None:
    """Drop half the rows on/after ``cutoff``, double the other prices, add rows on it."""
    lake = Lake(lake_root)
    folder = lake.current_dir() / schema.TRANSACTIONS
    for part in sorted(folder.glob("week=*/*.parquet")):
        table = pq.read_table(part).to_pandas()
        late = table[schema.T_DAT] >= cutoff
        if not late.any():
            continue
        table = table[~late | (np.arange(len(table)) % 2 == 0)].copy()
        table.loc[table[schema.T_DAT] >= cutoff, schema.PRICE] *= 2
        extra = table[table[schema.T_DAT] >= cutoff].head(50).copy()
        extra[schema.T_DAT] = cutoff
        out = pd.concat([table, extra], ignore_index=True)
        pq.write_table(pa.Table.from_pandas(out, preserve_index=False), part)
