"""Kaggle's submission format: ``customer_id,prediction`` with 12 zero-padded article ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys import schema


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


def read_submission(path: Path) -> pd.DataFrame:
    """A submission back as ``customer_id`` (hex) and ``prediction`` strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)
