"""LightGBM LambdaRank (or a binary classifier) over candidate rows, early-stopped on MAP@12.

Rows are grouped per (cutoff, customer). Early stopping watches MAP@12 exactly as Kaggle computes
it on the validation week: the denominator is min(articles bought, 12), and buyers for whom
retrieval found nothing count as zeros, so the number is comparable with the baselines.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence, Set
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from recsys import schema
from recsys.ranking.compiled import (
    CompiledBooster,
    carry_cache,
    compile_booster,
    compile_file,
)
from recsys.ranking.vocab import encode_strings
from recsys.retrieval.base import group_rank
from recsys.schema import CUTOFF, K


class MatrixBlock(Protocol):
    """Columns that place themselves into a feature matrix, by each row's key (such as
    :class:`~recsys.ranking.features.StoreBlock`)."""

    positions: np.ndarray  # the matrix columns it writes

    def place(self, frame: pd.DataFrame, out: np.ndarray) -> None:
        """Write its columns of ``frame``'s rows into ``out``."""


SCORE_ROWS = 1 << 14  # candidate rows whose feature matrix is built and scored at a time


@dataclass
class RankerConfig:
    """LightGBM parameters that matter here (everything else: LightGBM defaults)."""

    objective: Literal["lambdarank", "binary"] = "lambdarank"
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 63
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    early_stopping_rounds: int = 40
    seed: int = 42
    threads: int = 2

    def lgb_params(self) -> dict:
        """The ``lgb.train`` parameter dict (metric off: MAP@12 comes from our own eval)."""
        params = {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "metric": "None",
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.threads,
            "verbosity": -1,
        }
        if self.objective == "lambdarank":
            params["lambdarank_truncation_level"] = 2 * K
        return params


@dataclass
class Ranker:
    """A trained booster with the feature order and string vocabularies it expects.

    Scores come from the booster compiled to native code (:mod:`recsys.ranking.compiled`),
    built on first use: for a loaded ranker from (and cached beside) its ``model.txt``.
    """

    booster: object
    features: list[str]
    vocab: dict[str, list[str]]
    config: RankerConfig
    best_iteration: int
    curve: list[float] = field(default_factory=list)
    model_file: Path | None = None  # the ``model.txt`` it was loaded from, if any
    _compiled: CompiledBooster | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __getstate__(self) -> dict:
        """Pickled (to a cluster's worker) without its lock and native code: compiled there."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_compiled", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _compiled=None, _lock=threading.Lock())

    def compiled(self) -> CompiledBooster:
        """The booster's first ``best_iteration`` iterations compiled (once per ranker)."""
        with self._lock:
            if self._compiled is None:
                whole = self.booster.current_iteration() == self.best_iteration
                on_disk = self.model_file is not None and self.model_file.exists()
                if on_disk and (whole or not self.best_iteration):
                    self._compiled = compile_file(self.model_file)
                else:
                    self._compiled = compile_booster(self.booster, self.best_iteration or None)
            return self._compiled

    def predict(self, features: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Scores of a float32 matrix in ``features`` order, equal to ``Booster.predict``'s."""
        return self.compiled().predict(features, threads or self.config.threads)

    def score(self, frame: pd.DataFrame, blocks: Sequence[MatrixBlock] = ()) -> np.ndarray:
        """Scores for candidate rows (higher = better); missing features are NaN.

        ``blocks``: store features placed by key (see :func:`matrix`), not read from ``frame``.
        The matrix is built and scored ``SCORE_ROWS`` rows at a time: a few MB, whatever the
        frame, instead of a copy of all its features at once.
        """
        parts = [
            self.predict(
                matrix(frame.iloc[lo : lo + SCORE_ROWS], self.features, self.vocab, blocks)
            )
            for lo in range(0, len(frame), SCORE_ROWS)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.float64)

    def digest(self) -> str:
        """A short hash of what its scores depend on: the trees it uses, features, vocabulary."""
        trees = self.booster.model_to_string(num_iteration=self.best_iteration or None)
        text = json.dumps([trees, self.features, self.vocab], default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def importance(self) -> pd.Series:
        """Total gain per feature, descending."""
        gain = self.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.features).sort_values(ascending=False)

    def save(self, path: Path) -> Path:
        """``model.txt`` (LightGBM text format) plus ``ranker.json`` in folder ``path``.

        A loaded ranker's cached compiled forest travels along when the model text is the same.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path / "model.txt"), num_iteration=self.best_iteration or None)
        if self.model_file is not None:
            carry_cache(self.model_file, path / "model.txt")  # the compiled forest, if any
        meta = {
            "features": self.features,
            "vocab": self.vocab,
            "config": asdict(self.config),
            "best_iteration": self.best_iteration,
            "curve": self.curve,
        }
        (path / "ranker.json").write_text(json.dumps(meta, indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> Ranker:
        """A ranker written by :meth:`save`."""
        import lightgbm as lgb

        meta = json.loads((Path(path) / "ranker.json").read_text())
        model_file = Path(path) / "model.txt"
        return cls(
            lgb.Booster(model_file=str(model_file)),
            meta["features"],
            meta["vocab"],
            RankerConfig(**meta["config"]),
            int(meta.get("best_iteration") or 0),
            meta["curve"],
            model_file,
        )


def matrix(
    frame: pd.DataFrame,
    features: list[str],
    vocab: dict[str, list[str]],
    blocks: Sequence[MatrixBlock] = (),
) -> np.ndarray:
    """The float32 feature matrix in ``features`` order (absent columns are NaN).

    Column-major, filled column by column in place: one copy of the data (LightGBM and the
    compiled forest read either layout). ``blocks`` (see
    :meth:`~recsys.ranking.features.SnapshotFeatures.blocks`) place their columns themselves,
    by the row's key; the other columns come from ``frame``.
    """
    out = np.empty((len(frame), len(features)), np.float32, order="F")
    placed: set[int] = set()
    for block in blocks:
        block.place(frame, out)
        placed.update(block.positions.tolist())
    fill_matrix(out, frame, features, vocab, skip=placed)
    return out


def fill_matrix(
    out: np.ndarray,
    frame: pd.DataFrame,
    features: list[str],
    vocab: dict[str, list[str]],
    order: np.ndarray | None = None,
    absent: float | None = np.nan,
    skip: Set[int] = frozenset(),
) -> None:
    """Write ``frame``'s features (rows taken in ``order``, if given) into ``out``, column by
    column, but the positions in ``skip``: string features as codes of ``vocab``; columns
    ``frame`` lacks are set to ``absent`` (None: left as they are)."""
    rest = [(j, name) for j, name in enumerate(features) if j not in skip]
    strings = [name for _, name in rest if name in vocab and name in frame]
    encoded = encode_strings(frame[strings].copy(), vocab)
    for j, name in rest:
        source = encoded if name in vocab else frame
        if name not in source:
            if absent is not None:
                out[:, j] = absent
            continue
        values = source[name].to_numpy(np.float32)
        out[:, j] = values if order is None else values[order]


def sort_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by (cutoff, customer) so that each ranking group is contiguous."""
    return frame.sort_values([CUTOFF, schema.CUSTOMER_ID], kind="stable", ignore_index=True)


def group_ids(frame: pd.DataFrame) -> np.ndarray:
    """A 0-based group id per row (groups = contiguous (cutoff, customer) runs)."""
    key = frame[CUTOFF].to_numpy().astype("int64") ^ frame[schema.CUSTOMER_ID].to_numpy()
    return np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1


def grouped_map(
    preds: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_true: np.ndarray, n_buyers: int
) -> float:
    """Kaggle MAP@12 of grouped predictions; ``n_true`` per group, ``n_buyers`` the population."""
    order = np.lexsort((-preds, groups))
    g, hit = groups[order], labels[order].astype(np.float64)
    pos = group_rank(g)
    hit = hit * (pos <= K)
    running = np.cumsum(hit)
    before = np.maximum.accumulate(np.where(np.r_[True, g[1:] != g[:-1]], running - hit, 0))
    precision = (running - before) / pos * hit
    sums = np.bincount(g, weights=precision, minlength=len(n_true))
    denominator = np.minimum(n_true, K)
    ap = np.divide(sums, denominator, out=np.zeros_like(sums), where=denominator > 0)
    return float(ap.sum() / max(n_buyers, 1))
