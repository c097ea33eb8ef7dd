"""Retriever kinds by name, imported lazily (torch and sentence-transformers load on use)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from recsys.retrieval.base import FORMAT_VERSION, META_FILE, Retriever

KINDS: dict[str, str] = {
    "repurchase": "recsys.retrieval.repurchase:RepurchaseRetriever",
    "siblings": "recsys.retrieval.siblings:SiblingsRetriever",
    "popularity": "recsys.retrieval.popularity:PopularityRetriever",
    "seasonal": "recsys.retrieval.seasonal:SeasonalRetriever",
    "cooccurrence": "recsys.retrieval.cooccurrence:CooccurrenceRetriever",
    "itemcf": "recsys.retrieval.itemcf:ItemCFRetriever",
    "content": "recsys.retrieval.content:ContentRetriever",
    "useruser": "recsys.retrieval.useruser:UserUserRetriever",
    "twotower": "recsys.retrieval.twotower:TwoTowerRetriever",
    "union": "recsys.retrieval.union:UnionRetriever",
}


def retriever_class(kind: str) -> type[Retriever]:
    """The class registered under ``kind``."""
    try:
        target = KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown retriever kind {kind!r}; choose one of {sorted(KINDS)}"
        ) from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def create(kind: str, **params: Any) -> Retriever:
    """A new (unfitted) retriever of ``kind`` with ``params``."""
    return retriever_class(kind)(**params)


def load_retriever(path: Path) -> Retriever:
    """A fitted retriever back from the folder written by :meth:`Retriever.save`."""
    import datetime as dt

    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: not a saved retriever folder")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: format {meta.get('format')} != {FORMAT_VERSION}")
    retriever = create(meta["kind"], **meta["params"])
    retriever._load_state(path)
    retriever.cutoff = dt.date.fromisoformat(meta["cutoff"])
    return retriever
