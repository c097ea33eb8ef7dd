"""Whether a delivery can be appended to the live lake version, and which bytes are new.

The live version's manifest records every file it was made from (``sources``: content hash,
size, line count and rows per week). A delivery is appended to it when nothing ingested before
changed, except in these ways:

- a transactions file grew: its first old-size bytes hash to the recorded hash and ended with a
  newline; only the appended tail is parsed, its lines numbered after the recorded line count
  (not for a gzip file, which cannot be read from a byte offset: a full ingest, saying so);
- new transactions files (a week file, or a history file where there was none): parsed whole;
- ``articles.csv`` or ``customers.csv`` replaced: parsed and validated again, as long as they keep
  every id the lake's transactions reference.

Anything else is a full re-ingest, and the reason is logged: an empty lake or a version without
per-file records, changed validation settings, a transactions file removed, shrunk or changed
before its end, ids dropped that the history references, ``--force``, or a dry run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from recsys import schema
from recsys.data import packing
from recsys.data.arrival import Delivery, Source
from recsys.data.fingerprint import Digest, HashCache
from recsys.data.lake import Lake
from recsys.data.raw import FIRST_DATA_LINE

log = logging.getLogger(__name__)
ID_COLUMNS = {schema.ARTICLES: schema.ARTICLE_ID, schema.CUSTOMERS: schema.CUSTOMER_ID}
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Read:
    """Rows to parse: a file from byte ``offset`` on, whose first row is on ``first_line``."""

    source: Source
    offset: int = 0
    first_line: int = FIRST_DATA_LINE


@dataclass(frozen=True)
class Plan:
    """How a delivery is ingested: in full, or appended to the live version."""

    mode: Literal["full", "append"]
    reason: str
    reads: tuple[Read, ...]
    changed: frozenset[str]  # articles/customers files to parse and validate (all of them in full)

    @property
    def append(self) -> bool:
        """Whether the new version starts from the live one."""
        return self.mode == "append"

    def reuses(self, source: Source) -> bool:
        """Whether the live version's table of ``source`` (articles, customers) is kept."""
        return self.append and source.name not in self.changed


def full_plan(delivery: Delivery, reason: str) -> Plan:
    """Parse and validate every file of the delivery."""
    reads = tuple(Read(s) for s in delivery.transactions)
    return Plan("full", reason, reads, frozenset(s.name for s in delivery.sources))


def digest_sources(delivery: Delivery, live: dict | None, cache: HashCache) -> dict[str, Digest]:
    """Each file's content digest, with the hash of the prefix ingested before when it grew."""
    old = (live or {}).get("sources", {})
    digests = {}
    for source in delivery.sources:
        before = old.get(source.name, {}).get("size")
        grew = before is not None and source.path.stat().st_size > before
        prefix = before if grew and source.table == schema.TRANSACTIONS else None
        digests[source.name] = cache.digest(source.path, prefix)
    cache.save()
    return digests


def plan_ingest(
    delivery: Delivery, digests: dict[str, Digest], live: dict | None, key: str, full: str | None
) -> Plan:
    """Append what is new to the live version when that is safe, else a full ingest (``full``:
    a reason to ingest in full anyway)."""
    why = full or _no_append(delivery, live, key)
    if why:
        return full_plan(delivery, why)
    old = live["sources"]
    reads = []
    for source in delivery.transactions:
        record = old.get(source.name)
        if record is None:
            reads.append(Read(source))
        elif digests[source.name].hash != record["hash"]:
            why = _not_a_tail(source, digests[source.name], record)
            if why:
                return full_plan(delivery, why)
            reads.append(Read(source, record["size"], record["lines"] + 1))
    small = (delivery.articles, delivery.customers)
    changed = frozenset(s.name for s in small if digests[s.name].hash != old[s.name]["hash"])
    parts = [f"{r.source.name} from line {r.first_line}" for r in reads] + sorted(changed)
    return Plan("append", "new: " + (", ".join(parts) or "nothing"), tuple(reads), changed)


def _no_append(delivery: Delivery, live: dict | None, key: str) -> str | None:
    """Why the delivery cannot be appended whatever its files hold, or None."""
    if live is None:
        return "the lake is empty"
    if "sources" not in live:
        return "the live version has no per-file records (made by an older ingest)"
    if live.get("validation_key") != key:
        before, now = live.get("validation_key") or "defaults", key or "defaults"
        return f"validation settings changed ({before} -> {now})"
    gone = sorted(set(live["sources"]) - {s.name for s in delivery.sources})
    return f"{', '.join(gone)} no longer in the raw folder" if gone else None


def _not_a_tail(source: Source, digest: Digest, record: dict) -> str | None:
    """Why a changed file is not the ingested one plus appended lines, or None."""
    size = record["size"]
    if packing.compressed(source.path):
        return f"{source.name} changed and is gzip: its new rows cannot be read alone"
    if digest.size <= size:
        return f"{source.name} was rewritten (not longer than before)"
    if digest.prefixes.get(size) != record["hash"]:
        return f"{source.name} changed before its end (its first {size:,} bytes differ)"
    with open(source.path, "rb") as f:
        f.seek(size - 1)
        if f.read(1) != b"\n":
            return f"{source.name} had no newline at its end: the new bytes continue its last line"
    return None


def dropped_ids(lake: Lake, table: str, new: pa.Table, file: str) -> str | None:
    """Why the new ``table`` (articles or customers) cannot take the live transactions: the ids
    it drops that they reference; None if it drops none of them."""
    column = ID_COLUMNS[table]
    old = lake.read(table, columns=[column]).column(column).combine_chunks()
    dropped = old.filter(pc.invert(pc.is_in(old, value_set=new.column(column).combine_chunks())))
    if not len(dropped):
        return None
    used = lake.transactions(columns=[column]).to_table().column(column)
    missing = pc.unique(used.filter(pc.is_in(used, value_set=dropped)))
    if not len(missing):
        return None
    shown = ", ".join(str(v) for v in missing.slice(0, MAX_EXAMPLES).to_pylist())
    return f"{file} drops {len(missing)} {column}(s) the lake's transactions use (e.g. {shown})"
