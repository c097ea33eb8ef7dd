"""Source specifications: each source's parameters are checked against its kind when parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.retrieval.content import ContentConfig
from recsys.retrieval.popularity import PopularityConfig
from recsys.retrieval.sources import DEFAULT_SOURCES, SourceSpec, parse_sources, with_home
from recsys.settings import Settings


def test_a_misspelled_parameter_fails_at_parse_time() -> None:
    with pytest.raises(ValueError) as info:
        parse_sources([{"kind": "repurchase", "quota": 10, "dayz": 3}])
    message = str(info.value)
    assert "source 'repurchase'" in message
    assert "unknown parameter 'dayz'" in message
    assert "allowed: days, half_life_days" in message


def test_a_wrongly_typed_parameter_fails_at_parse_time() -> None:
    items = [{"kind": "popularity", "quota": 5, "name": "popular_week", "days": "7"}]
    with pytest.raises(ValueError, match="source 'popular_week'.*'days' must be int, got '7'"):
        parse_sources(items)
    items = [{"kind": "popularity", "quota": 5, "mode": "weekly"}]
    with pytest.raises(ValueError, match="'mode' must be one of 'global', 'age_bucket'"):
        parse_sources(items)


def test_an_unknown_kind_names_the_source_and_the_kinds() -> None:
    with pytest.raises(ValueError, match="source 'mine': unknown retriever kind 'popularty'") as e:
        parse_sources([{"kind": "popularty", "quota": 5, "name": "mine"}])
    assert "'popularity'" in str(e.value) and "'union'" in str(e.value)


def test_specs_give_their_typed_config() -> None:
    spec = parse_sources([{"kind": "popularity", "quota": 3, "mode": "global", "days": 7}])[0]
    assert spec.config() == PopularityConfig(mode="global", days=7)
    assert spec.as_dict() == {
        "kind": "popularity",
        "quota": 3,
        "name": "popularity",
        "mode": "global",
        "days": 7,
    }
    assert spec.build().config == spec.config()


def test_default_sources_are_valid() -> None:
    assert parse_sources([s.as_dict() for s in DEFAULT_SOURCES]) == list(DEFAULT_SOURCES)
    for spec in DEFAULT_SOURCES:
        assert spec.build().params() == {"name": spec.name, **spec.config().to_params()}


def test_with_home_gives_caching_sources_a_cache_dir(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, raw=None)
    specs = with_home(
        [*DEFAULT_SOURCES, SourceSpec("content", 5, "own", {"cache_dir": "x"})], settings
    )
    cached = {s.name: s.params.get("cache_dir") for s in specs if "cache_dir" in s.params}
    home = str(settings.paths.embeddings)
    assert cached == {"content": home, "twotower": home, "own": "x"}
    content = next(s for s in specs if s.name == "content")
    assert content.config() == ContentConfig(cache_dir=str(settings.paths.embeddings))
