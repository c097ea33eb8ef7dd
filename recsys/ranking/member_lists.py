"""Each union member's own top-k list for a week's customers, kept with the validation week.

The candidates stage captures them from the union's own call (:meth:`UnionRetriever.
retrieve_with_lists`) and writes them beside the week's frame; evaluation cuts recall@12..k and
the per-source comparison rows from them instead of retrieving every source again. On disk:
one long Parquet file, member after member (``customer_id`` int64, ``article_id`` int32,
``score`` float32, ``rank`` int16, ``source`` a category), the depth ``k`` in its metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys import schema
from recsys.retrieval.base import empty_candidates

FILE = "sources.parquet"
META_KEY = b"hm.member_lists"  # {"k": depth, "members": [[name, rows], ...]}, in file order


@dataclass
class MemberLists:
    """``lists``: each member's top ``k``, as its ``retrieve(customers, k)`` returns it."""

    lists: dict[str, pd.DataFrame]
    k: int

    def cut(self, k: int) -> dict[str, pd.DataFrame]:
        """Each member's top ``k`` (at most :attr:`k`), as its ``retrieve`` returns it."""
        if k > self.k:
            raise ValueError(f"the lists hold each member's top {self.k}, not {k}")
        if k == self.k:
            return dict(self.lists)
        return {n: f[f[schema.RANK] <= k].reset_index(drop=True) for n, f in self.lists.items()}


def save_lists(lists: MemberLists, folder: Path) -> Path:
    """Write ``folder/sources.parquet`` whole or not at all (a temporary file, then a rename);
    one member at a time, so the long table is never built in memory."""
    names = list(lists.lists)
    members = [[name, len(frame)] for name, frame in lists.lists.items()]
    meta = {META_KEY: json.dumps({"k": lists.k, "members": members}).encode()}
    schema_ = _compact(pd.DataFrame(columns=_COLUMNS), 0, names).schema
    path, partial = folder / FILE, folder / f".{FILE}.partial"
    with pq.ParquetWriter(partial, schema_.with_metadata({**schema_.metadata, **meta})) as out:
        for j, frame in enumerate(lists.lists.values()):
            out.write_table(_compact(frame, j, names).replace_schema_metadata(out.schema.metadata))
    os.replace(partial, path)
    return path


def load_lists(folder: Path) -> MemberLists | None:
    """The lists written by :func:`save_lists`; None where the folder has none (a week written
    before they were kept). Read member by member (its own row groups), so no more than one
    member's table is held in Arrow's memory pool, which is emptied after."""
    path = folder / FILE
    if not path.exists():
        return None
    file = pq.ParquetFile(path)
    meta = json.loads(file.schema_arrow.metadata[META_KEY])
    sizes = np.array([file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)])
    ends = np.cumsum(sizes)
    lists, start = {}, 0
    for name, rows in meta["members"]:
        mine = np.flatnonzero((ends - sizes >= start) & (ends <= start + rows) & (sizes > 0))
        table = file.read_row_groups(mine.tolist(), columns=_COLUMNS) if rows else None
        lists[name] = _as_retrieved(table, name)
        start += rows
    pa.default_memory_pool().release_unused()
    return MemberLists(lists, int(meta["k"]))


_COLUMNS = [schema.CUSTOMER_ID, schema.ARTICLE_ID, schema.SCORE, schema.RANK]


def _compact(frame: pd.DataFrame, member: int, names: list[str]) -> pa.Table:
    """One member's list in the file's compact dtypes, ``source`` coded over every member."""
    compact = pd.DataFrame(
        {
            schema.CUSTOMER_ID: frame[schema.CUSTOMER_ID].to_numpy(np.int64),
            schema.ARTICLE_ID: frame[schema.ARTICLE_ID].to_numpy(np.int32),
            schema.SCORE: frame[schema.SCORE].to_numpy(np.float32),
            schema.RANK: frame[schema.RANK].to_numpy(np.int16),
            schema.SOURCE: pd.Categorical.from_codes(np.full(len(frame), member, np.int8), names),
        }
    )
    return pa.Table.from_pandas(compact, preserve_index=False)


def _as_retrieved(rows: pa.Table | None, name: str) -> pd.DataFrame:
    """One member's rows (None: none) with the columns and dtypes of
    :func:`recsys.retrieval.base.finalize`."""
    if rows is None:
        return empty_candidates(name)

    def column(key: str, dtype: type) -> np.ndarray:
        return rows.column(key).to_numpy().astype(dtype, copy=False)

    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: column(schema.CUSTOMER_ID, np.int64),
            schema.ARTICLE_ID: column(schema.ARTICLE_ID, np.int32),
            schema.SCORE: column(schema.SCORE, np.float32),
            schema.RANK: column(schema.RANK, np.int32),
            schema.SOURCE: pd.Categorical.from_codes(np.zeros(rows.num_rows, np.int8), [name]),
        }
    )
