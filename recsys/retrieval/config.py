"""Typed retriever parameters: one frozen dataclass per kind, checked when it is built."""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any, Literal, Self, Union, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class RetrieverConfig:
    """A retriever kind's parameters: every field typed, defaulted and JSON-able.

    Building one checks every value against its field's type (``ValueError`` naming the parameter).
    :meth:`from_params` also refuses unknown names; :meth:`to_params` is the flat JSON form.
    """

    def __post_init__(self) -> None:
        hints = field_types(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            if not conforms(value, hints[f.name]):
                raise ValueError(
                    f"parameter {f.name!r} must be {describe(hints[f.name])}, got {value!r}"
                )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str) -> Self:
        """The config from flat ``params``; errors start with ``where`` (e.g. the source)."""
        allowed = [f.name for f in fields(cls)]
        for name in params:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{where}: unknown parameter {name!r}{hint}; "
                    f"allowed: {', '.join(allowed) or 'none'}"
                )
        try:
            return cls(**params)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def to_params(self) -> dict[str, Any]:
        """Every field by name (a copy): the flat JSON form that :meth:`from_params` reads."""
        return asdict(self)


@cache
def field_types(cls: type[RetrieverConfig]) -> dict[str, Any]:
    """The resolved type of each field of ``cls`` (annotations are strings here)."""
    return get_type_hints(cls)


def conforms(value: Any, hint: Any) -> bool:
    """True if ``value`` fits ``hint`` (an int passes for a float; a bool never for a number)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if hint in (int, float):
        numeric = (int,) if hint is int else (int, float)
        return isinstance(value, numeric) and not isinstance(value, bool)
    if origin is dict:
        return isinstance(value, dict) and all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items()
        )
    if origin in (list, tuple):
        return isinstance(value, origin) and all(conforms(v, args[0]) for v in value)
    return isinstance(value, origin or hint)


def describe(hint: Any) -> str:
    """A short readable form of a type hint (``int | None``, ``one of 'a', 'b'``)."""
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(arg) for arg in get_args(hint))
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")
