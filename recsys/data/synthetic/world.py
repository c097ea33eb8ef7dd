"""``generate_world``: one synthetic H&M world (articles, customers, transactions) on disk."""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from recsys import schema
from recsys.data.synthetic import timeline, writer
from recsys.data.synthetic.catalogue import Catalogue, articles_frame, build_catalogue
from recsys.data.synthetic.customers import Customers, DepartmentPicker, build_customers
from recsys.data.synthetic.scales import ScaleConfig, resolve_scale
from recsys.data.synthetic.taxonomy import load_taxonomy
from recsys.data.synthetic.transactions import Purchases, Simulator


@dataclass
class WorldSummary:
    """What :func:`generate_world` wrote."""

    out_dir: Path
    n_articles: int
    n_customers: int
    n_transactions: int
    first_date: dt.date | None
    last_date: dt.date | None
    seconds: float


def _simulate(
    cfg: ScaleConfig, sim: Simulator, out: writer.TransactionWriter, progress: bool
) -> tuple[int | None, int | None]:
    """Simulate and write every week in chunks; returns the first and last day with a purchase."""
    first = last = None
    bar = tqdm(
        total=cfg.n_weeks,
        desc=f"hm generate {cfg.name}",
        unit="week",
        disable=not progress,
        file=sys.stderr,
    )
    with bar:
        for start in range(0, cfg.n_weeks, cfg.weeks_per_chunk):
            weeks = range(start, min(start + cfg.weeks_per_chunk, cfg.n_weeks))
            chunk = Purchases.concat([sim.week(w) for w in weeks])
            out.write(chunk)
            if len(chunk):
                first = int(chunk.day[0]) if first is None else first
                last = int(chunk.day[-1])
            bar.update(len(weeks))
            bar.set_postfix(rows=f"{out.rows:,}")
    return first, last


def _date(cfg: ScaleConfig, day: int | None) -> dt.date | None:
    """The date of day number ``day`` of the world (None stays None)."""
    return None if day is None else cfg.start_date + dt.timedelta(days=day)


def _build(cfg: ScaleConfig, seed: int) -> tuple[Catalogue, Customers, Simulator]:
    """Catalogue, customers and the transaction simulator of a world."""
    tax = load_taxonomy()
    cat_seed, cust_seed = np.random.SeedSequence(seed).spawn(2)
    cat = build_catalogue(tax, cfg, np.random.default_rng(cat_seed))
    picker = DepartmentPicker.build(tax, np.flatnonzero(np.diff(cat.dept_offsets) > 0))
    cust = build_customers(tax, cfg, picker, np.random.default_rng(cust_seed))
    season = tax.type_season[cat.type_idx]
    return cat, cust, Simulator(cfg, cat, cust, picker, season, seed)


def generate_world(
    scale: str | ScaleConfig, seed: int, out_dir: Path, progress: bool = True
) -> WorldSummary:
    """Generate a synthetic world into ``out_dir`` (created if missing); deterministic per seed."""
    began = time.perf_counter()
    cfg = resolve_scale(scale)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cat, cust, sim = _build(cfg, seed)
    writer.write_articles(articles_frame(load_taxonomy(), cat), out_dir / schema.ARTICLES_FILE)
    writer.write_customers(cust, out_dir / schema.CUSTOMERS_FILE)
    days = timeline.day_strings(cfg)
    tx = writer.TransactionWriter(
        out_dir / schema.TRANSACTIONS_FILE, days, cust.hex_id, cat.article_id
    )
    try:
        first, last = _simulate(cfg, sim, tx, progress)
    except BaseException:
        tx.close(ok=False)
        raise
    tx.close()
    return WorldSummary(
        out_dir=out_dir,
        n_articles=len(cat),
        n_customers=len(cust),
        n_transactions=tx.rows,
        first_date=_date(cfg, first),
        last_date=_date(cfg, last),
        seconds=time.perf_counter() - began,
    )
