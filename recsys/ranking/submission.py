"""Kaggle's submission format: ``customer_id,prediction`` with 12 zero-padded article ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema
from recsys.parallel import Parallel


def submission_frame(recs: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """One row per customer of ``customers`` (``customer_id`` int64 + ``customer_hex``).

    ``recs`` holds ``customer_id, article_id, rank``; customers missing from it get an empty
    prediction (the caller fills lists beforehand, so this only happens for an empty catalogue).
    """
    recs = recs.sort_values([schema.CUSTOMER_ID, schema.RANK], kind="stable")
    padded = recs[schema.ARTICLE_ID].astype(np.int64).map("{:010d}".format)
    joined = padded.groupby(recs[schema.CUSTOMER_ID].to_numpy(), sort=False).agg(" ".join)
    prediction = joined.reindex(customers[schema.CUSTOMER_ID].to_numpy()).fillna("")
    return pd.DataFrame(
        {
            "customer_id": customers[schema.CUSTOMER_HEX].to_numpy(),
            "prediction": prediction.to_numpy(),
        }
    )


def write_submission(frame: pd.DataFrame, path: Path) -> Path:
    """Write the submission CSV (atomically: a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def write_submission_in_parts(
    recs: pd.DataFrame, customers: pd.DataFrame, path: Path, where: Parallel, size: int
) -> int:
    """The submission of :func:`write_submission` (the same bytes), its rows formatted
    ``size`` customers a task ``where`` (a cluster's workers, say) and written in order;
    the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as out:
        for text in where.map(_csv_part, None, _parts(recs, customers, size)):
            out.write(text)
    tmp.replace(path)
    return len(customers)


def _parts(
    recs: pd.DataFrame, customers: pd.DataFrame, size: int
) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """(first row, recommendations of the part's customers, part of ``customers``) per
    ``size`` consecutive customers."""
    recs = recs.sort_values([schema.CUSTOMER_ID, schema.RANK], kind="stable")
    ids = recs[schema.CUSTOMER_ID].to_numpy()
    for start in range(0, max(len(customers), 1), max(1, size)):
        part = customers.iloc[start : start + size]
        wanted = np.unique(part[schema.CUSTOMER_ID].to_numpy())
        lo, hi = np.searchsorted(ids, wanted, "left"), np.searchsorted(ids, wanted, "right")
        counts = hi - lo
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        yield start, recs.iloc[rows], part


def _csv_part(_: None, job: tuple[int, pd.DataFrame, pd.DataFrame]) -> str:
    """The CSV text of one part's rows (the header with the first part's)."""
    start, recs, customers = job
    return submission_frame(recs, customers).to_csv(index=False, header=start == 0)


def read_submission(path: Path) -> pd.DataFrame:
    """A submission back as ``customer_id`` (hex) and ``prediction`` strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)
