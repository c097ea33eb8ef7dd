"""The feature contract: every customer and article feature, its type, its Feast view and meaning.

Snapshots (``recsys.features``) compute exactly these columns; the Feast repo (``feature_repo/``)
declares its feature views and services from them, so training and serving agree by construction.
A snapshot for cutoff ``T`` uses only transactions strictly before ``T`` and carries
``event_timestamp = T`` (midnight UTC). Cutoffs are Wednesdays: the first day of the week served.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# window name -> length in days (None = lifetime)
WINDOWS: dict[str, int | None] = {"1w": 7, "4w": 28, "13w": 91, "26w": 182, "52w": 364, "all": None}
SHARE_WINDOWS = ("13w", "all")
PRODUCT_GROUPS = (
    "Garment Upper body",
    "Garment Lower body",
    "Garment Full body",
    "Accessories",
    "Underwear",
    "Shoes",
    "Swimwear",
    "Socks & Tights",
    "Nightwear",
)  # anything else counts as "other"
INDEX_GROUPS = ("Ladieswear", "Baby/Children", "Divided", "Menswear", "Sport")
AGE_BUCKETS = (
    16,
    25,
    35,
    45,
    55,
    65,
)  # bucket i = [AGE_BUCKETS[i], AGE_BUCKETS[i+1]); -1 = unknown

# Feast feature view names
CUSTOMER_ACTIVITY = "customer_activity"
CUSTOMER_PROFILE = "customer_profile"
ARTICLE_SALES = "article_sales"
ARTICLE_PROFILE = "article_profile"

F32, I32, I64, STR = pa.float32(), pa.int32(), pa.int64(), pa.string()


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column of a snapshot."""

    name: str
    dtype: pa.DataType
    view: str
    description: str


def slug(label: str) -> str:
    """A column-name-safe label: "Garment Upper body" -> "garment_upper_body"."""
    return "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_").replace("__", "_")


def _windowed(
    prefix: str, view: str, metrics: list[tuple[str, pa.DataType, str]]
) -> list[FeatureSpec]:
    """One feature per metric and window."""
    return [
        FeatureSpec(
            f"{prefix}_{m}_{w}", t, view, f"{d} ({'lifetime' if n is None else f'last {n} days'})"
        )
        for m, t, d in metrics
        for w, n in WINDOWS.items()
    ]


def customer_features() -> list[FeatureSpec]:
    """All customer features, in snapshot column order (after ``customer_id, event_timestamp``)."""
    specs = _windowed(
        "c",
        CUSTOMER_ACTIVITY,
        [
            ("n_tx", I32, "transaction rows"),
            ("n_articles", I32, "distinct articles bought"),
            ("spend", F32, "total spend"),
            ("mean_price", F32, "mean price paid"),
            ("active_days", I32, "distinct days with a purchase"),
            ("n_channels", I32, "distinct sales channels used"),
            ("ch2_share", F32, "share of rows bought online (channel 2)"),
            (
                "price_ratio",
                F32,
                "mean of price paid / the article's mean price (bargain hunter < 1)",
            ),
            ("repurchase_ratio", F32, "share of rows whose article the customer had bought before"),
        ],
    )
    specs += [
        FeatureSpec(
            "c_days_since_last", I32, CUSTOMER_ACTIVITY, "days from last purchase to cutoff"
        ),
        FeatureSpec(
            "c_days_since_first", I32, CUSTOMER_ACTIVITY, "days from first purchase to cutoff"
        ),
    ]
    for w in SHARE_WINDOWS:
        for group in (*PRODUCT_GROUPS, "other"):
            specs.append(
                FeatureSpec(
                    f"c_share_pg_{slug(group)}_{w}",
                    F32,
                    CUSTOMER_PROFILE,
                    f"share of rows in product group {group} ({w})",
                )
            )
        for group in INDEX_GROUPS:
            specs.append(
                FeatureSpec(
                    f"c_share_ig_{slug(group)}_{w}",
                    F32,
                    CUSTOMER_PROFILE,
                    f"share of rows in index group {group} ({w})",
                )
            )
    specs += [
        FeatureSpec("c_age", F32, CUSTOMER_PROFILE, "age (null if unknown)"),
        FeatureSpec(
            "c_age_bucket", I32, CUSTOMER_PROFILE, "age bucket index of AGE_BUCKETS, -1 unknown"
        ),
        FeatureSpec("c_club_member_status", STR, CUSTOMER_PROFILE, "club member status"),
        FeatureSpec("c_fashion_news_frequency", STR, CUSTOMER_PROFILE, "fashion news frequency"),
        FeatureSpec("c_fn", F32, CUSTOMER_PROFILE, "FN flag (1.0 or null)"),
        FeatureSpec("c_active", F32, CUSTOMER_PROFILE, "Active flag (1.0 or null)"),
    ]
    return specs


ARTICLE_STATIC = (
    ("product_code", I32),
    ("product_type_no", I32),
    ("product_group_name", STR),
    ("graphical_appearance_no", I32),
    ("colour_group_code", I32),
    ("perceived_colour_value_id", I32),
    ("perceived_colour_master_id", I32),
    ("department_no", I32),
    ("index_code", STR),
    ("index_group_no", I32),
    ("section_no", I32),
    ("garment_group_no", I32),
)


def article_features() -> list[FeatureSpec]:
    """All article features, in snapshot column order (after ``article_id, event_timestamp``)."""
    specs = _windowed(
        "a",
        ARTICLE_SALES,
        [
            ("units", I32, "units sold (transaction rows)"),
            ("buyers", I32, "distinct buyers"),
            ("mean_price", F32, "mean price"),
            ("ch2_share", F32, "share of units sold online"),
            ("buyer_age_mean", F32, "mean age of its buyers"),
        ],
    )
    specs += [
        FeatureSpec("a_latest_price", F32, ARTICLE_SALES, "price of the last sale before cutoff"),
        FeatureSpec("a_max_price", F32, ARTICLE_SALES, "highest price ever paid"),
        FeatureSpec("a_discount", F32, ARTICLE_SALES, "1 - latest price / max price"),
        FeatureSpec("a_days_on_sale", I32, ARTICLE_SALES, "days from first to last sale"),
        FeatureSpec(
            "a_days_since_first_sale", I32, ARTICLE_SALES, "days from first sale to cutoff"
        ),
        FeatureSpec("a_days_since_last_sale", I32, ARTICLE_SALES, "days from last sale to cutoff"),
        FeatureSpec("a_buyer_age_median", F32, ARTICLE_SALES, "median buyer age (lifetime)"),
        FeatureSpec(
            "a_trend", F32, ARTICLE_SALES, "units last week / mean weekly units of the 3 before"
        ),
        FeatureSpec(
            "a_repurchase_rate", F32, ARTICLE_SALES, "share of buyers who bought it on 2+ days"
        ),
        FeatureSpec(
            "a_rank_in_type_1w", I32, ARTICLE_SALES, "rank of units_1w within its product type"
        ),
        FeatureSpec(
            "a_rank_in_type_4w", I32, ARTICLE_SALES, "rank of units_4w within its product type"
        ),
    ]
    specs += [
        FeatureSpec(f"a_{n}", t, ARTICLE_PROFILE, f"catalogue attribute {n}")
        for n, t in ARTICLE_STATIC
    ]
    return specs
