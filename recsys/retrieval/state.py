"""Small helpers to persist a retriever's state: numpy arrays (npz) and frames (Parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def save_arrays(path: Path, name: str, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path/name.npz`` (uncompressed, no pickles)."""
    np.savez(Path(path) / f"{name}.npz", **arrays)


def load_arrays(path: Path, name: str) -> dict[str, np.ndarray]:
    """Arrays written by :func:`save_arrays`."""
    with np.load(Path(path) / f"{name}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save_frame(path: Path, name: str, frame: pd.DataFrame) -> None:
    """Write ``frame`` to ``path/name.parquet``."""
    frame.to_parquet(Path(path) / f"{name}.parquet", index=False)


def load_frame(path: Path, name: str) -> pd.DataFrame:
    """A frame written by :func:`save_frame`."""
    return pd.read_parquet(Path(path) / f"{name}.parquet")
