"""Each union member's own top-k lists for a week's customers, kept with the validation week.

The candidates stage captures them from the union's own call (:meth:`UnionRetriever.
retrieve_with_lists`) and writes them beside the week's frame; evaluation cuts recall@12..k and
the per-source comparison rows from them instead of retrieving every source again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys import schema

FILE = "sources.parquet"
DEPTH_KEY = b"hm.member_lists.k"  # the list depth, in the Parquet file's metadata


@dataclass
class MemberLists:
    """``frame``: every member's top ``k`` (long: ``customer_id`` int64, ``article_id`` int32,
    ``score`` float32, ``rank`` int16, ``source`` = member as a category)."""

    frame: pd.DataFrame
    k: int

    def split(self, k: int) -> dict[str, pd.DataFrame]:
        """Each member's top ``k`` (<= :attr:`k`) exactly as its ``retrieve`` returns it."""
        if k > self.k:
            raise ValueError(f"lists hold each member's top {self.k}, not {k}")
        frame = self.frame[self.frame[schema.RANK] <= k]
        codes = frame[schema.SOURCE].cat.codes.to_numpy()
        names = frame[schema.SOURCE].cat.categories
        return {name: _as_retrieved(frame[codes == j], name) for j, name in enumerate(names)}


def _as_retrieved(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """One member's rows with the columns and dtypes of :func:`recsys.retrieval.base.finalize`."""
    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: rows[schema.CUSTOMER_ID].to_numpy(np.int64),
            schema.ARTICLE_ID: rows[schema.ARTICLE_ID].to_numpy(np.int32),
            schema.SCORE: rows[schema.SCORE].to_numpy(np.float32),
            schema.RANK: rows[schema.RANK].to_numpy(np.int32),
            schema.SOURCE: pd.Categorical.from_codes(np.zeros(len(rows), np.int8), [name]),
        }
    )


def save_lists(lists: MemberLists, folder: Path) -> Path:
    """Write ``folder/sources.parquet`` whole or not at all (a temporary file, then a rename)."""
    table = pa.Table.from_pandas(lists.frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), DEPTH_KEY: str(lists.k).encode()}
    path, partial = folder / FILE, folder / f".{FILE}.partial"
    pq.write_table(table.replace_schema_metadata(meta), partial)
    os.replace(partial, path)
    return path


def load_lists(folder: Path) -> MemberLists | None:
    """The lists written by :func:`save_lists`; None where the folder has none (a week written
    before they were kept)."""
    path = folder / FILE
    if not path.exists():
        return None
    table = pq.read_table(path)
    return MemberLists(table.to_pandas(), int(table.schema.metadata[DEPTH_KEY]))
