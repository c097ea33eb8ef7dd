"""Entities: the join keys of every feature view (customers and articles)."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="An H&M customer (customer_id: int64 from the lake's id mapping).",
)

# INT64 rather than INT32: Feast types entity keys from value_type when it serialises online keys,
# and pandas/dask build int64 join columns by default, so one width end to end avoids silent
# key mismatches; the snapshot's int32 article_id is widened on the way in.
article = Entity(
    name="article",
    join_keys=["article_id"],
    value_type=ValueType.INT64,
    description="An H&M article (article_id as in the Kaggle data).",
)
