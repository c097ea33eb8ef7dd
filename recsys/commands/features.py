"""`hm features build | apply | materialize | show`: weekly snapshots and the Feast store."""

from __future__ import annotations

import datetime as dt

import numpy as np
import typer
from rich.table import Table

from recsys.commands import console, err, friendly_errors, writing
from recsys.settings import Settings


def run_build(settings: Settings, weeks: int, force: bool, progress: bool) -> None:
    """Compute the snapshots of the last ``weeks`` cutoffs (skips those already up to date)."""
    from recsys.data.fingerprint import HashCache
    from recsys.data.lake import Lake
    from recsys.features.cutoffs import default_cutoffs
    from recsys.features.snapshots import build_snapshots

    lake, hashes = Lake(settings.paths.lake), HashCache(settings.paths.file_hashes)
    with friendly_errors(), writing(settings):
        cutoffs = default_cutoffs(lake, weeks)
        features = settings.paths.features
        infos = build_snapshots(lake, cutoffs, features, progress, force, hashes=hashes)
        hashes.save()
    table = Table()
    for column in ("cutoff", "entity", "rows", "seconds", "file"):
        table.add_column(column, justify="right" if column in ("rows", "seconds") else "left")
    for info in infos:
        seconds = "up to date" if info.skipped else f"{info.seconds:.1f}"
        table.add_row(str(info.cutoff), info.entity, f"{info.rows:,}", seconds, info.path.name)
    console.print(f"feature snapshots in {settings.paths.features}:")
    console.print(table)


def run_apply(settings: Settings) -> None:
    """Register entities, feature views and services in the Feast registry."""
    from recsys.features import store

    with friendly_errors(), writing(settings):
        fs = store.apply(settings, settings.online_store, settings.redis)
    views = sorted(v.name for v in fs.list_feature_views())
    services = sorted(s.name for s in fs.list_feature_services())
    console.print(f"feast apply: views {views}, services {services} ({settings.online_store})")


def run_materialize(settings: Settings, cutoff: dt.date | None, progress: bool) -> None:
    """Load a snapshot (default: the newest built) into the online store."""
    from recsys.features import materialize, store
    from recsys.features.snapshots import latest_cutoff

    with friendly_errors(), writing(settings):
        cutoff = cutoff or latest_cutoff(settings.paths.features)
        if cutoff is None:
            err.print("[bold red]error:[/] no feature snapshots yet: run `hm features build`")
            raise typer.Exit(1)
        store.apply(settings, settings.online_store, settings.redis)
        stats = materialize.materialize(
            settings, cutoff, settings.online_store, settings.redis, progress
        )
    console.print(
        f"materialized cutoff {cutoff} into the {settings.online_store} online store: "
        f"{stats['customer_rows']:,} customers in {stats['customer_seconds']:.1f}s, "
        f"{stats['article_rows']:,} articles in {stats['article_seconds']:.1f}s"
    )


def run_show(settings: Settings, customer: str, articles: list[int], n: int) -> None:
    """Print a customer's (and some articles') online features next to the offline snapshot."""
    from recsys.features.online import OnlineFeatures
    from recsys.features.snapshots import latest_cutoff, read_snapshot

    customer_id = parse_customer_id(customer)
    with friendly_errors():
        online = OnlineFeatures(settings, settings.online_store, settings.redis)
        got = online.get(customer_id, articles)
        cutoff = latest_cutoff(settings.paths.features)
        snap = read_snapshot(settings.paths.features, "customer", cutoff)
    row = snap.filter(np.asarray(snap.column("customer_id")) == customer_id).to_pylist()
    offline = row[0] if row else {}
    console.print(f"customer {customer_id}: snapshot {cutoff}, online version {online.version}")
    table = Table()
    for column in ("feature", "online", "offline"):
        table.add_column(column)
    block = got.customer
    for i, name in enumerate(block.names[:n]):
        table.add_row(name, _fmt(block.values[0, i]), _fmt(offline.get(name)))
    console.print(table)
    if articles:
        console.print(f"{len(articles)} articles x {got.articles.values.shape[1]} features read")


def parse_customer_id(text: str) -> int:
    """A customer id as the int64 key: accepts the key itself or Kaggle's 64-hex id."""
    import pyarrow as pa

    from recsys.data.ids import hex_to_key

    if text.lstrip("-").isdigit():
        return int(text)
    keys, bad = hex_to_key(pa.array([text.lower()]))
    if bad[0]:
        raise typer.BadParameter(f"{text!r} is neither an int64 key nor a 64-hex customer id")
    return int(keys[0])


def _fmt(value: object) -> str:
    """A value for the table (floats rounded)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.4g}" if isinstance(value, float | np.floating) else str(value)
