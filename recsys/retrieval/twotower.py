"""Two-tower neural retrieval: customer and article towers trained with in-batch negatives.

Training examples are the (customer, article) purchases of the last ``days`` days, weighted by
recency (half-life ``half_life`` days). The customer side sees the customer id, an age bucket and
the ``bag_size`` articles bought before the purchase day; the article side sees the article id, its
catalogue attributes and two time-relative buckets (sales in the 7 days before, weeks on sale).
Serving indexes the articles sold in the last ``index_days`` days in a FAISS :class:`VectorIndex`
and searches it with customer vectors computed in chunks; context articles join every bag.
The torch network lives in :mod:`recsys.retrieval.twotower_model` (imported only when used).

Warm start: only cutoffs whose week index is a multiple of ``anchor_weeks`` (anchor cutoffs) train
``epochs`` from scratch; any other cutoff trains ``warm_epochs`` from the cold fit at its anchor
(on the same history cut at the anchor; ids mapped by value, new ids start from scratch). That
anchor fit is a function of the history too, so the result is the same whether it was loaded from
``cache_dir`` (keyed on the code, its history's content and the cold parameters) or fitted anew.

Defaults were tuned on the medium world (recall@100 of the held-out week): the logQ popularity
correction matters most (without it recall@100 drops by about a third); more epochs or a longer
window overfit the customer-id embeddings. ``threads=1`` because a shared, oversubscribed CPU
makes multi-threaded torch several times slower (1 and 2 threads gave identical losses here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import schema
from recsys.features.spec import AGE_BUCKETS
from recsys.retrieval.ann import IndexKind, VectorIndex
from recsys.retrieval.base import Retriever, top_k
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.history import History
from recsys.retrieval.state import load_arrays, save_arrays

FEATURE_COLUMNS = (
    "product_type_no",
    "product_group_name",
    "graphical_appearance_no",
    "colour_group_code",
    "perceived_colour_value_id",
    "perceived_colour_master_id",
    "department_no",
    "index_group_no",
    "section_no",
    "garment_group_no",
)
N_AGE = len(AGE_BUCKETS) + 1  # below the first bound, then one per bound; 0 = unknown
WARM_FIELDS = ("anchor_weeks", "warm_epochs", "cache_dir")  # parameters a cold fit ignores
KEEP_ANCHORS = 4  # anchor models kept in ``cache_dir``; the least recently used goes first
DAY_S = 86_400  # a temporary folder this many seconds old was left by a crashed fit


# -- numpy feature helpers -------------------------------------------------------------------------
def article_codes(articles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted article ids, their attribute codes ((n+1) x columns, row 0 and code 0 = unknown)
    and each column's vocabulary size."""
    frame = articles.sort_values(schema.ARTICLE_ID, kind="stable")
    ids = frame[schema.ARTICLE_ID].to_numpy(np.int32)
    cols = [c for c in FEATURE_COLUMNS if c in frame.columns]
    codes = np.zeros((len(ids) + 1, len(cols)), dtype=np.int64)
    vocab = np.zeros(len(cols), dtype=np.int64)
    for j, col in enumerate(cols):
        values, uniques = pd.factorize(frame[col], sort=True)
        codes[1:, j] = values + 1  # factorize marks missing values -1 -> 0
        vocab[j] = len(uniques)
    return ids, codes, vocab


def lookup(vocab: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """1-based positions of ``keys`` in the sorted ``vocab``; 0 where absent."""
    keys = np.asarray(keys)
    if len(vocab) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    pos = np.searchsorted(vocab, keys).clip(max=len(vocab) - 1)
    return np.where(vocab[pos] == keys, pos + 1, 0).astype(np.int64)


def take(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Rows ``pos - 1`` of ``table`` (1-based positions from :func:`lookup`); zeros for 0.

    Gathers only the asked rows (the table, one row per customer, is never copied)."""
    pos = np.asarray(pos)
    if len(table) == 0:
        return np.zeros((len(pos), *table.shape[1:]), table.dtype)
    rows = table[np.maximum(pos - 1, 0)]
    rows[pos == 0] = 0
    return rows


def age_bucket(ages: np.ndarray) -> np.ndarray:
    """Age bucket per age: 0 unknown, 1 below ``AGE_BUCKETS[0]``, then one per bound."""
    ages = np.asarray(ages, dtype=np.float64)
    bucket = np.searchsorted(np.asarray(AGE_BUCKETS, np.float64), ages, side="right") + 1
    return np.where(np.isnan(ages), 0, bucket).astype(np.int64)


def log_bucket(counts: np.ndarray) -> np.ndarray:
    """``floor(log2(1 + count))`` clipped to 0..15."""
    return np.minimum(np.floor(np.log2(1.0 + counts)), 15).astype(np.int64)


def dynamic_buckets(
    tx_art: np.ndarray, tx_days: np.ndarray, art: np.ndarray, day: np.ndarray, n_art: int
) -> tuple[np.ndarray, np.ndarray]:
    """(popularity, weeks-on-sale) buckets of articles ``art`` as seen on ``day`` (days before the
    cutoff; 0 = the cutoff): sales in the 7 days before, weeks since the first earlier sale
    (0 = no earlier sale). Only sales strictly before ``day`` count."""
    horizon = int(day.max(initial=0)) + 8
    near = tx_days <= horizon
    flat = tx_art[near] * (horizon + 1) + tx_days[near]
    daily = np.bincount(flat, minlength=(n_art + 1) * (horizon + 1)).reshape(n_art + 1, -1)
    cum = np.cumsum(daily, axis=1)  # cum[a, t] = sales with 1 <= days_ago <= t
    pop = log_bucket(cum[art, day + 7] - cum[art, day])
    first = np.zeros(n_art + 1, dtype=np.int64)
    np.maximum.at(first, tx_art, tx_days)
    weeks = (first[art] - day - 1) // 7
    return pop, np.where(first[art] > day, 1 + np.minimum(weeks, 14), 0).astype(np.int64)


def previous_items(
    art: np.ndarray, row: np.ndarray, first_of_customer: np.ndarray, size: int
) -> np.ndarray:
    """Articles ``art[row - 1], art[row - 2], ...`` (``size`` of them) that stay within the
    customer (rows >= ``first_of_customer``); 0 pads."""
    idx = row[:, None] - np.arange(1, size + 1)[None, :]
    valid = idx >= first_of_customer[:, None]
    padded = np.r_[np.zeros(1, art.dtype), art]  # also safe when ``art`` is empty
    return np.where(valid, padded[np.maximum(idx + 1, 0)], 0).astype(np.int64)


def customer_runs(cust: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by customer then time: first row of each row's customer and of its
    (customer, day) run."""
    n = len(cust)
    pos = np.arange(n)
    new_c = np.r_[True, cust[1:] != cust[:-1]][:n]
    new_cd = new_c | np.r_[True, day[1:] != day[:-1]][:n]
    first_c = np.maximum.accumulate(np.where(new_c, pos, 0))
    first_cd = np.maximum.accumulate(np.where(new_cd, pos, 0))
    return first_c, first_cd


def anchor_cutoff(cutoff: dt.date, weeks: int) -> dt.date:
    """The latest cutoff on or before ``cutoff`` whose week index is a multiple of ``weeks``."""
    return schema.WEEK_EPOCH + dt.timedelta(weeks=schema.week_index(cutoff) // weeks * weeks)


def truncate(history: History, cutoff: dt.date) -> History:
    """``history`` as seen from the earlier ``cutoff``: the same tables, earlier transactions."""
    tx = history.transactions
    n = int(np.searchsorted(tx[schema.T_DAT].to_numpy(), np.datetime64(cutoff), side="left"))
    return History(cutoff, tx.iloc[:n].reset_index(drop=True), history.articles, history.customers)


def anchor_key(history: History, params: dict[str, Any]) -> str:
    """Cache key of a cold fit: the code, the history's content and the cold-fit parameters."""
    from recsys.retrieval.code_digest import code_fingerprint
    from recsys.retrieval.fit_cache import history_fingerprint

    parts = [code_fingerprint(), history_fingerprint(history), params]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def keep_model(model: Retriever, path: Path) -> None:
    """Save ``model`` as ``path`` whole or not at all (written aside, then renamed; a copy that
    another process kept first wins), then drop all but the ``KEEP_ANCHORS`` latest used."""
    from recsys.retrieval.fit_cache import DONE

    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:6]}"
    model.save(tmp / "model")
    (tmp / DONE).touch()
    if not (path / DONE).exists():
        shutil.rmtree(path, ignore_errors=True)  # an incomplete earlier attempt
    try:
        os.rename(tmp, path)
    except OSError:  # kept meanwhile by another process: the same model
        shutil.rmtree(tmp, ignore_errors=True)
    done = sorted((p for p in path.parent.glob("*") if (p / DONE).exists()), key=os.path.getmtime)
    stale = [p for p in path.parent.glob(".tmp-*") if time.time() - p.stat().st_mtime > DAY_S]
    for old in done[: max(0, len(done) - KEEP_ANCHORS)] + stale:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class TwoTowerConfig(RetrieverConfig):
    """Parameters of :class:`TwoTowerRetriever`."""

    days: int = 42  # train on the purchases of these last days
    half_life: float = 56.0  # an example this many days older weighs half as much
    bag_size: int = 20  # the customer tower sees this many earlier purchases
    dim: int = 64  # width of the customer and article vectors
    hidden: int = 128  # width of the towers' hidden layer
    epochs: int = 2  # passes over the training examples
    batch_size: int = 2048  # examples per batch (the other examples are the negatives)
    lr: float = 0.003  # learning rate
    temperature: float = 0.1  # softmax temperature of the in-batch loss
    logq: bool = True  # correct the in-batch negatives for article popularity
    index_days: int = 28  # serve the articles sold in these last days (<= 0: all)
    index_kind: IndexKind = "exact"  # FAISS index over the served articles
    threads: int = 1  # torch threads
    device: str = "cpu"  # torch device to train on
    seed: int = 42  # random seed of training and the index
    anchor_weeks: int = 4  # cold fits only at cutoffs every this many weeks, else warm (0: cold)
    warm_epochs: int = 1  # epochs of a warm fit, started from the anchor cutoff's cold fit
    cache_dir: str = ""  # anchor models are kept under its ``twotower`` folder ("": not kept)


class TwoTowerRetriever(Retriever, kind="twotower", config=TwoTowerConfig):
    """Neural customer/article towers (PyTorch) served through a FAISS inner-product index."""

    fit_weight = 25  # 531 s at full H&M scale

    config: TwoTowerConfig

    def __init__(self, config: TwoTowerConfig | None = None, /, **params: Any) -> None:
        super().__init__(config, **params)
        self.model = None
        self.index: VectorIndex | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.losses: list[float] = []

    # -- fit -------------------------------------------------------------------------------------
    def _fit(self, history: History) -> None:
        from recsys.retrieval.fit_cache import DONE

        cfg, anchor = self.config, self._anchor(history)
        self._train(history, anchor)
        weeks = cfg.anchor_weeks
        on_anchor = weeks > 0 and anchor_cutoff(history.cutoff, weeks) == history.cutoff
        if cfg.cache_dir and on_anchor:  # the next cutoffs' anchor: keep it
            path = self._anchor_path(history)
            if not (path / DONE).exists():
                self.cutoff = history.cutoff  # fitted (``save`` checks it)
                keep_model(self, path)

    def _train(self, history: History, anchor: TwoTowerRetriever | None) -> None:
        """Train on ``history``: ``epochs`` from the initial weights, or ``warm_epochs`` from
        ``anchor``'s weights (ids mapped by value)."""
        from recsys.retrieval import twotower_model as tm

        art_ids, codes, vocab = article_codes(history.articles)
        tx = history.transactions
        order = np.argsort(tx[schema.CUSTOMER_ID].to_numpy(np.int64), kind="stable")
        cust = tx[schema.CUSTOMER_ID].to_numpy(np.int64)[order]
        days = history.days_ago[order].astype(np.int64)
        art = lookup(art_ids, tx[schema.ARTICLE_ID].to_numpy(np.int32)[order])
        data, cust_vocab = self._examples(history, cust, days, art, len(art_ids))
        self.arrays = {
            "article_ids": art_ids,
            "codes": codes,
            "vocab": vocab,
            "cust_vocab": cust_vocab,
            **self._serving_arrays(history, cust, art),
        }
        cfg = self.config
        with tm.deterministic(cfg.threads, strict=cfg.device == "cpu"):
            import torch

            torch.manual_seed(cfg.seed)
            self.model = tm.TwoTower(self._sizes(), codes)
            if anchor is not None:
                old = anchor.arrays
                ids = (old["article_ids"], art_ids), (old["cust_vocab"], cust_vocab)
                tm.transfer(anchor.model, self.model, *ids)
            self.losses = tm.train(
                self.model,
                data,
                epochs=cfg.epochs if anchor is None else cfg.warm_epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                temperature=cfg.temperature,
                logq=cfg.logq,
                seed=cfg.seed,
                threads=cfg.threads,
                device=cfg.device,
            )
            self.index = self._build_index(history, art, days)

    # -- warm start ------------------------------------------------------------------------------
    def _anchor(self, history: History) -> TwoTowerRetriever | None:
        """The cold fit at the anchor cutoff (on the history before it) that this fit starts
        from; None when this fit is cold (an anchor cutoff, no anchors, nothing to learn)."""
        cfg = self.config
        if cfg.anchor_weeks <= 0:
            return None
        anchor = anchor_cutoff(history.cutoff, cfg.anchor_weeks)
        if anchor >= history.cutoff:
            return None
        before = truncate(history, anchor)
        start = pd.Timestamp(anchor - dt.timedelta(days=cfg.days))
        if not (before.transactions[schema.T_DAT] >= start).any():
            return None
        return self._cold_fit(before)

    def _cold_fit(self, history: History) -> TwoTowerRetriever:
        """A cold fit on ``history`` (at an anchor cutoff), from ``cache_dir`` when it is there,
        else fitted and kept there."""
        from recsys.retrieval.fit_cache import DONE
        from recsys.retrieval.registry import load_retriever

        if not self.config.cache_dir:
            return TwoTowerRetriever(**self._cold_params()).fit(history)
        path = self._anchor_path(history)
        if (path / DONE).exists():
            os.utime(path)  # recently used: pruned last
            return load_retriever(path / "model")  # type: ignore[return-value]
        fitted = TwoTowerRetriever(**self._cold_params()).fit(history)
        keep_model(fitted, path)
        return fitted

    def _cold_params(self) -> dict[str, Any]:
        """The parameters of a cold fit: this config without the warm-start ones."""
        params = self.config.to_params()
        return {k: v for k, v in params.items() if k not in WARM_FIELDS} | {"anchor_weeks": 0}

    def _anchor_path(self, history: History) -> Path:
        """Where the cold fit on ``history`` is kept under ``cache_dir``."""
        return Path(self.config.cache_dir) / "twotower" / anchor_key(history, self._cold_params())

    def _examples(
        self, history: History, cust: np.ndarray, days: np.ndarray, art: np.ndarray, n_art: int
    ):
        """Training pairs of the last ``days`` days (unique per customer, article and day) with
        their features, and the customer-id vocabulary."""
        from recsys.retrieval.twotower_model import Batches

        cfg = self.config
        first_c, first_cd = customer_runs(cust, -days)
        rows = np.flatnonzero((days <= cfg.days) & (art > 0))
        dup = pd.DataFrame({"c": cust[rows], "a": art[rows], "d": days[rows]}).duplicated()
        rows = rows[~dup.to_numpy()]
        c, a, d = cust[rows], art[rows], days[rows]
        cust_vocab = np.unique(c)
        pop, art_age = dynamic_buckets(art, days, a, d, n_art)
        weight = (0.5 ** ((d - 1) / cfg.half_life)).astype(np.float32)
        q = np.bincount(a, weights=weight, minlength=n_art + 1)
        ages = history.customer_age.reindex(c).to_numpy()
        data = Batches(
            cust=lookup(cust_vocab, c),
            age=age_bucket(ages),
            bag=previous_items(art, first_cd[rows], first_c[rows], cfg.bag_size),
            art=a,
            pop=pop,
            art_age=art_age,
            weight=weight,
            logq=np.log(q[a] / q.sum()).astype(np.float32),
        )
        return data, cust_vocab

    def _serving_arrays(self, history: History, cust: np.ndarray, art: np.ndarray) -> dict:
        """Per-customer lookups for serving: age buckets and the last ``bag_size`` purchases."""
        table = history.customers[[schema.CUSTOMER_ID, "age"]].drop_duplicates(schema.CUSTOMER_ID)
        table = table.sort_values(schema.CUSTOMER_ID)
        buyers, first = np.unique(cust, return_index=True)
        last = np.r_[first[1:], len(cust)]  # one past each buyer's last row
        return {
            "table_ids": table[schema.CUSTOMER_ID].to_numpy(np.int64),
            "table_age": age_bucket(table["age"].to_numpy()).astype(np.int8),
            "bag_ids": buyers,
            "bag_items": previous_items(art, last, first, self.config.bag_size).astype(np.int32),
        }

    def _sizes(self):
        """The network's vocabulary sizes and widths."""
        from recsys.retrieval.twotower_model import TowerSizes

        return TowerSizes(
            n_articles=len(self.arrays["article_ids"]),
            feature_vocab=tuple(int(v) for v in self.arrays["vocab"]),
            n_customers=len(self.arrays["cust_vocab"]),
            n_age=N_AGE,
            hidden=self.config.hidden,
            dim=self.config.dim,
        )

    def _build_index(self, history: History, art: np.ndarray, days: np.ndarray) -> VectorIndex:
        """Article vectors (as of the cutoff) of the recently sold articles (all if ``index_days``
        is 0) in a FAISS index."""
        from recsys.retrieval import twotower_model as tm

        cfg, n_art = self.config, len(self.arrays["article_ids"])
        chosen = np.unique(art[(days <= cfg.index_days) & (art > 0)])
        if cfg.index_days <= 0 or len(chosen) == 0:  # all articles (also when nothing sold)
            chosen = np.arange(1, n_art + 1)
        day = np.zeros(len(chosen), dtype=np.int64)
        pop, age = dynamic_buckets(art, days, chosen, day, n_art)
        vectors = tm.encode(self.model.articles, (chosen, pop, age))
        ids = self.arrays["article_ids"][chosen - 1]
        return VectorIndex(kind=cfg.index_kind).build(ids, vectors, seed=cfg.seed)

    # -- retrieve --------------------------------------------------------------------------------
    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        from recsys.retrieval import twotower_model as tm

        arr = self.arrays
        bag = take(arr["bag_items"], lookup(arr["bag_ids"], customers))
        ctx = lookup(arr["article_ids"], context)
        bag = np.hstack(
            [bag, np.broadcast_to(ctx[ctx > 0], (len(customers), int((ctx > 0).sum())))]
        )
        age = take(arr["table_age"], lookup(arr["table_ids"], customers))
        cust = lookup(arr["cust_vocab"], customers)
        with tm.deterministic(self.config.threads):
            vectors = tm.encode(
                self.model.customers, (cust, age.astype(np.int64), bag.astype(np.int64))
            )
        ids, scores = self.index.search(vectors, k)
        c = np.repeat(customers, ids.shape[1])
        found = ids.ravel() >= 0
        return top_k(c[found], ids.ravel()[found], scores.ravel()[found], k)

    # -- persistence -----------------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        import torch

        torch.save(self.model.state_dict(), Path(path) / "model.pt")
        save_arrays(path, "twotower", **self.arrays)
        self.index.save(path, "twotower_index")

    def _load_state(self, path: Path) -> None:
        import torch

        from recsys.retrieval import twotower_model as tm

        self.arrays = load_arrays(path, "twotower")
        self.model = tm.TwoTower(self._sizes(), self.arrays["codes"])
        state = torch.load(Path(path) / "model.pt", map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval()
        self.index = VectorIndex.load(path, "twotower_index", kind=self.config.index_kind)
