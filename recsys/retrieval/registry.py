"""Retriever kinds by name: classes register themselves; their modules are found on lookup.

A class statement ``class X(Retriever, kind="x", config=XConfig)`` registers ``X`` when its module
is imported. To find that module, the package's sources are scanned once (pkgutil, then ``ast``)
for such class statements; looking a kind up imports its module only. Listing kinds imports
nothing, and nothing here imports torch, sentence-transformers or FAISS (they load in ``fit``).
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import importlib.util
import json
import pkgutil
import re
from functools import cache
from pathlib import Path
from typing import Any

from recsys.retrieval.base import FORMAT_VERSION, META_FILE, REGISTRY, Retriever
from recsys.retrieval.config import RetrieverConfig

PACKAGE = "recsys.retrieval"
CLASS_WITH_KIND = re.compile(r"^class\s+\w+\s*\([^)]*\bkind\s*=[^)]*\)\s*:", re.MULTILINE)


def kinds() -> list[str]:
    """Every kind: those declared in the package's modules and any registered elsewhere."""
    return sorted(set(kind_modules()) | set(REGISTRY))


def retriever_class(kind: str) -> type[Retriever]:
    """The class registered under ``kind`` (its module is imported if it was not yet)."""
    if kind not in REGISTRY and kind in kind_modules():
        importlib.import_module(kind_modules()[kind])
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown retriever kind {kind!r}; choose one of {kinds()}") from None


def config_class(kind: str) -> type[RetrieverConfig]:
    """The config dataclass of ``kind``."""
    return retriever_class(kind).config_class


def create(kind: str, **params: Any) -> Retriever:
    """A new (unfitted) retriever of ``kind`` with ``params`` (``name`` and config fields)."""
    return retriever_class(kind)(**params)


def load_retriever(path: Path) -> Retriever:
    """A fitted retriever back from the folder written by :meth:`Retriever.save`."""
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


@cache
def kind_modules() -> dict[str, str]:
    """Kind -> module, for each kind a module of this package declares (scanned once)."""
    package = importlib.import_module(PACKAGE)
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__, f"{PACKAGE}."):
        spec = None if info.ispkg else importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            found.update(dict.fromkeys(declared_kinds(Path(spec.origin).read_text()), info.name))
    return found


def declared_kinds(source: str) -> list[str]:
    """The ``kind="..."`` of each top-level class statement of ``source`` (headers found by a
    regex, then parsed: a full ``ast.parse`` of the package would cost ~50 ms)."""
    headers = (ast.parse(f"{m.group()} ...").body[0] for m in CLASS_WITH_KIND.finditer(source))
    return [
        keyword.value.value
        for node in headers
        if isinstance(node, ast.ClassDef)
        for keyword in node.keywords
        if keyword.arg == "kind"
        and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str)
    ]
