"""Typed retriever configs: values are checked against the declared types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from recsys.retrieval.config import RetrieverConfig, conforms, describe


@dataclass(frozen=True)
class ExampleConfig(RetrieverConfig):
    """A config with one field of each supported shape."""

    days: int | None = None  # optional count
    rate: float = 0.5  # an int passes
    on: bool = False  # a flag
    mode: Literal["a", "b"] = "a"  # a choice
    extra: dict[str, Any] = field(default_factory=dict)  # free-form keyword arguments


def test_values_must_fit_their_declared_types() -> None:
    assert ExampleConfig(days=3, rate=2, on=True, mode="b", extra={"x": [1]}).rate == 2
    for bad in ({"days": "3"}, {"days": True}, {"rate": "1"}, {"rate": False}, {"on": 1}):
        with pytest.raises(ValueError, match=f"parameter {next(iter(bad))!r} must be"):
            ExampleConfig(**bad)
    with pytest.raises(ValueError, match="'mode' must be one of 'a', 'b', got 'c'"):
        ExampleConfig(mode="c")
    with pytest.raises(ValueError, match="'extra' must be dict"):
        ExampleConfig(extra={1: 2})


def test_from_params_names_where_the_bad_parameter_came_from() -> None:
    config = ExampleConfig.from_params({"days": 2}, "source 'x'")
    assert config == ExampleConfig(days=2)
    with pytest.raises(ValueError, match="source 'x': unknown parameter 'dais'") as info:
        ExampleConfig.from_params({"dais": 2}, "source 'x'")
    assert "did you mean 'days'" in str(info.value)
    assert "allowed: days, rate, on, mode, extra" in str(info.value)
    with pytest.raises(ValueError, match="source 'x': parameter 'rate' must be float"):
        ExampleConfig.from_params({"rate": None}, "source 'x'")


def test_to_params_is_a_flat_copy() -> None:
    config = ExampleConfig(extra={"k": 1})
    params = config.to_params()
    assert params == {"days": None, "rate": 0.5, "on": False, "mode": "a", "extra": {"k": 1}}
    params["extra"]["k"] = 2
    assert config.extra == {"k": 1}
    assert ExampleConfig.from_params(config.to_params(), "here") == config


def test_conforms_and_describe() -> None:
    assert conforms([1, 2], list[int]) and not conforms([1, "2"], list[int])
    assert conforms((1,), tuple[int, ...]) and not conforms([1], tuple[int, ...])
    assert conforms(None, int | None) and conforms(3, Any)
    assert describe(int | None) == "int | None"
    assert describe(float) == "float"
