"""Source specifications: which retrievers make the candidate pool, with their quotas and params."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from recsys.retrieval.base import Retriever
from recsys.retrieval.config import RetrieverConfig


@dataclass(frozen=True)
class SourceSpec:
    """One member of the union: a registered ``kind``, its ``name``, ``quota`` and parameters."""

    kind: str
    quota: int
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name or self.kind)
        if self.quota < 1:
            raise ValueError(f"source {self.name!r}: quota must be >= 1, got {self.quota}")

    def config(self) -> RetrieverConfig:
        """The kind's typed config from ``params``; a ``ValueError`` naming this source, the bad
        parameter and the allowed ones (or the known kinds) if they do not fit."""
        from recsys.retrieval.registry import config_class

        try:
            config = config_class(self.kind)
        except ValueError as exc:
            raise ValueError(f"source {self.name!r}: {exc}") from None
        return config.from_params(self.params, f"source {self.name!r} (kind {self.kind!r})")

    def build(self) -> Retriever:
        """A new retriever for this spec."""
        from recsys.retrieval.registry import create

        return create(self.kind, name=self.name, **self.params)

    def as_dict(self) -> dict[str, Any]:
        """The flat JSON form: ``{"kind", "quota", "name", **params}``."""
        return {"kind": self.kind, "quota": self.quota, "name": self.name, **self.params}


def parse_sources(items: list[dict[str, Any]]) -> list[SourceSpec]:
    """Specs from flat dicts (``kind`` and ``quota`` required); names must be unique and each
    source's parameters fit its kind's config (checked here, see :meth:`SourceSpec.config`)."""
    specs = []
    for item in items:
        rest = dict(item)
        try:
            kind, quota = rest.pop("kind"), int(rest.pop("quota"))
        except KeyError as exc:
            raise ValueError(f"source {item!r} lacks {exc.args[0]!r}") from None
        spec = SourceSpec(kind=kind, quota=quota, name=rest.pop("name", ""), params=rest)
        spec.config()
        specs.append(spec)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, got {names}")
    return specs


# The default candidate pool. Quotas come from a greedy search on the medium synthetic world's
# week before the held-out one (add the 10 candidates with the best recall gain per candidate,
# up to ~200 per customer): item-CF and the two-tower model carry most of the recall, repurchase
# and age-bucket popularity add what they miss; every other source keeps a small quota so that
# the ranker sees its score. See README "Retrieval".
DEFAULT_SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("repurchase", 40),
    SourceSpec("siblings", 20),
    SourceSpec("popularity", 50, "popular_age", {"mode": "age_bucket"}),
    SourceSpec("popularity", 10, "popular_week", {"mode": "global", "days": 7}),
    SourceSpec("seasonal", 10),
    SourceSpec("cooccurrence", 20),
    SourceSpec("itemcf", 90),
    SourceSpec("content", 10),
    SourceSpec("useruser", 10),
    SourceSpec("twotower", 90),
)


def with_home(specs: list[SourceSpec], settings: object) -> list[SourceSpec]:
    """Specs whose sources with a ``cache_dir`` parameter cache under the project home's
    embeddings folder (text vectors there, two-tower anchor models in its ``twotower`` folder)."""
    from recsys.retrieval.registry import config_class

    cache = str(settings.paths.embeddings)  # type: ignore[attr-defined]
    return [
        SourceSpec(s.kind, s.quota, s.name, {"cache_dir": cache, **s.params})
        if "cache_dir" in {f.name for f in fields(config_class(s.kind))}
        else s
        for s in specs
    ]
