"""The registry: kinds register themselves, their modules are found by scanning the package and
imported only when their kind is looked up."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from recsys.retrieval.base import REGISTRY, Retriever
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.registry import (
    config_class,
    create,
    declared_kinds,
    kind_modules,
    kinds,
    retriever_class,
)
from recsys.retrieval.repurchase import RepurchaseConfig, RepurchaseRetriever

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "sentence_transformers", "faiss")
EXPECTED = {
    "content",
    "cooccurrence",
    "itemcf",
    "popularity",
    "repurchase",
    "seasonal",
    "siblings",
    "twotower",
    "union",
    "useruser",
}


def test_every_declared_kind_is_registered_by_its_module() -> None:
    assert set(kinds()) >= EXPECTED
    for kind in kinds():
        cls = retriever_class(kind)
        assert cls.kind == kind and REGISTRY[kind] is cls
        assert cls.__module__ == kind_modules()[kind]
        assert issubclass(config_class(kind), RetrieverConfig)


def test_the_scan_reads_class_statements_only() -> None:
    modules = set(kind_modules().values())
    assert "recsys.retrieval.twotower_model" not in modules  # imports torch
    assert "recsys.retrieval.itemgraph" not in modules  # only the abstract base
    source = (
        'class A(Retriever, kind="a", config=C):\n    pass\n\n\n'
        "class B(A, config=D):\n    kind = 'b'\n\n\n"
        "x = dict(kind='c')\n"
    )
    assert declared_kinds(source) == ["a"]
    assert declared_kinds("import os\n") == []


def test_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(ValueError, match="unknown retriever kind 'repurchse'") as info:
        create("repurchse")
    for kind in EXPECTED:
        assert repr(kind) in str(info.value)


def test_a_kind_cannot_be_taken_twice() -> None:
    @dataclass(frozen=True)
    class OtherConfig(RetrieverConfig):
        days: int = 1

    with pytest.raises(TypeError, match="'repurchase' is taken"):

        class Other(RepurchaseRetriever, kind="repurchase", config=OtherConfig):
            pass

    assert REGISTRY["repurchase"] is RepurchaseRetriever


def test_a_config_object_or_keywords_build_the_same_retriever() -> None:
    from_config = RepurchaseRetriever(RepurchaseConfig(days=7), name="recent")
    from_keywords = create("repurchase", name="recent", days=7)
    assert from_config.config == from_keywords.config == RepurchaseConfig(days=7)
    assert from_config.params() == {"name": "recent", "days": 7, "half_life_days": 60.0}
    overridden = RepurchaseRetriever(RepurchaseConfig(days=7), half_life_days=10.0)
    assert overridden.config == RepurchaseConfig(days=7, half_life_days=10.0)
    with pytest.raises(TypeError, match="RepurchaseConfig"):
        RepurchaseRetriever(RetrieverConfig())


def test_unknown_or_mistyped_parameters_fail_on_construction() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'dayz' \(did you mean 'days'\?\)"):
        create("repurchase", dayz=3)
    with pytest.raises(ValueError, match="'neighbours' must be int, got 'many'"):
        create("itemcf", neighbours="many")


def test_listing_and_configuring_kinds_imports_no_heavy_library() -> None:
    code = (
        "import json, sys\n"
        "from recsys.retrieval.registry import REGISTRY, create, kinds\n"
        "from recsys.retrieval.sources import DEFAULT_SOURCES, parse_sources\n"
        "names = kinds()\n"
        "imported = sorted(REGISTRY)\n"
        "[create(k) for k in names]\n"
        "parse_sources([s.as_dict() for s in DEFAULT_SOURCES])\n"
        f"print(json.dumps([names, imported, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    names, imported, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(names) >= EXPECTED
    assert imported == []  # listing kinds imported no retriever module
    assert heavy == []  # nor did building every kind and checking the default sources


def test_retriever_base_registers_nothing_without_a_kind() -> None:
    assert "" not in REGISTRY
    assert all(not getattr(cls, "__abstractmethods__", None) for cls in REGISTRY.values())
    assert Retriever.config_class is RetrieverConfig
