"""Feature views, one per view of the contract in ``recsys.features.spec``."""

from datetime import timedelta

import pyarrow as pa
from data_sources import article_snapshots, customer_snapshots
from entities import article, customer
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Bool, FeastType, Float32, Float64, Int32, Int64, String

from recsys.features import spec

# A snapshot at cutoff T serves [T, T + 7 days); past that a value is stale, not merely old.
TTL = timedelta(days=7)

ARROW_TO_FEAST: dict[pa.DataType, FeastType] = {
    pa.float32(): Float32,
    pa.float64(): Float64,
    pa.int32(): Int32,
    pa.int64(): Int64,
    pa.string(): String,
    pa.bool_(): Bool,
}


def view_fields(view: str) -> list[Field]:
    """Feast schema of one spec view, in spec order."""
    specs = [*spec.customer_features(), *spec.article_features()]
    return [
        Field(name=s.name, dtype=ARROW_TO_FEAST[s.dtype], description=s.description)
        for s in specs
        if s.view == view
    ]


def build_view(name: str, entity: Entity, source: FileSource) -> FeatureView:
    """One feature view over the snapshots of its entity."""
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=TTL,
        schema=view_fields(name),
        source=source,
        online=True,
        tags={"contract": "recsys.features.spec"},
    )


def build_views(customer_source: FileSource, article_source: FileSource) -> list[FeatureView]:
    """The four views: customer_activity, customer_profile, article_sales, article_profile."""
    return [
        build_view(spec.CUSTOMER_ACTIVITY, customer, customer_source),
        build_view(spec.CUSTOMER_PROFILE, customer, customer_source),
        build_view(spec.ARTICLE_SALES, article, article_source),
        build_view(spec.ARTICLE_PROFILE, article, article_source),
    ]


customer_activity, customer_profile, article_sales, article_profile = build_views(
    customer_snapshots, article_snapshots
)
