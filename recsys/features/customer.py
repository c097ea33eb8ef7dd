"""Customer snapshot query: activity per window, category shares and profile (see ``spec``).

Interpretations of the contract (``recsys.features.spec``):

* counts (``n_tx``, ``n_articles``, ``active_days``, ``n_channels``) and ``spend`` are 0 when the
  customer bought nothing in the window; means, ratios and shares are then NULL, and so are
  ``days_since_*`` for customers who never bought.
* ``price_ratio``: mean over the window's rows of price / the article's mean price over all rows
  before the cutoff (all customers, lifetime).
* ``repurchase_ratio``: share of the window's rows whose (customer, article) was also bought on an
  earlier day (possibly before the window, always before the cutoff); same-day duplicates of a
  first purchase are not repurchases.
* shares: rows in the group / rows in the window; product groups outside ``PRODUCT_GROUPS`` (and
  missing groups) count as "other"; index-group shares need not sum to 1 if a catalogue has other
  index groups.
* ``c_age_bucket``: i for ``AGE_BUCKETS[i] <= age < AGE_BUCKETS[i+1]``; the last bucket is open
  ended and ages below the first bound (14, 15) fall into bucket 0; -1 when age is unknown.
"""

from __future__ import annotations

import datetime as dt

from recsys import schema
from recsys.features.spec import (
    AGE_BUCKETS,
    INDEX_GROUPS,
    PRODUCT_GROUPS,
    SHARE_WINDOWS,
    WINDOWS,
    customer_features,
    slug,
)
from recsys.features.sql import (
    band,
    cast,
    check_covers,
    date,
    ratio,
    select_list,
)

PG_OTHER = "other"
SHARE_GROUPS = [("pg", slug(g)) for g in (*PRODUCT_GROUPS, PG_OTHER)] + [
    ("ig", slug(g)) for g in INDEX_GROUPS
]
# the article's mean price before the cutoff, from the article bands (see ``article.banded_sql``)
ARTICLE_MEAN_PRICE = "SELECT a, sum(s) / sum(units) AS am FROM article_bands GROUP BY a"
SUMMED = ("n", "arts", "s", "n2", "pr", "rep", "days")  # additive over bands


def _group_sums() -> list[str]:
    """Per band: rows in each product group (``pg_<slug>``) and index group (``ig_<slug>``)."""
    pgs = [slug(g) for g in (*PRODUCT_GROUPS, PG_OTHER)]  # codes: see pairdays.group_codes_sql
    igs = [slug(g) for g in INDEX_GROUPS]
    return [f"(count(*) FILTER (WHERE pg = {j}))::INTEGER AS pg_{g}" for j, g in enumerate(pgs)] + [
        f"(count(*) FILTER (WHERE ig = {j}))::INTEGER AS ig_{g}" for j, g in enumerate(igs)
    ]


def banded_sql(cutoff: dt.date, mean_price: str = ARTICLE_MEAN_PRICE) -> str:
    """Per customer and window band (see :func:`sql.band`): additive sums over ``pd``
    (``mean_price``: the query of each article's mean price, ``a, am``)."""
    return f"""
SELECT *
FROM (
  SELECT c, {band(cutoff, list(WINDOWS))} AS b, count(*)::INTEGER AS n, sum(s) AS s,
    sum(n2)::INTEGER AS n2, sum(s / am) AS pr,
    (count(*) FILTER (WHERE t > first_t))::INTEGER AS rep,
    (count(*) FILTER (WHERE is_last))::INTEGER AS arts, bit_or(m) AS m,
    min(t) AS first_day, max(t) AS last_day,
    {select_list(_group_sums())}
  FROM pd JOIN ({mean_price}) USING (a)
  GROUP BY ALL
)
JOIN (
  SELECT c, {band(cutoff, list(WINDOWS))} AS b, count(*)::INTEGER AS days
  FROM (SELECT DISTINCT c, t FROM pd) GROUP BY ALL
) USING (c, b)"""


def prepare(con, cutoff: dt.date, mean_price: str = ARTICLE_MEAN_PRICE) -> None:
    """Create the temp table ``customer_bands`` (:func:`banded_sql`) for ``cutoff``."""
    sql = banded_sql(cutoff, mean_price)
    con.execute(f"CREATE OR REPLACE TEMP TABLE customer_bands AS {sql}")


def window_sql(index: int, window: str) -> str:
    """One row per customer who bought in ``window``: its sums over bands ``0..index``.

    One plain GROUP BY per window (and a join per window) is much faster in DuckDB than one
    GROUP BY with a FILTER clause per window and metric.
    """
    aggs = [f"sum({x}) AS {x}_{window}" for x in SUMMED]
    aggs.append(f"bit_count(bit_or(m)) AS ch_{window}")
    if window in SHARE_WINDOWS:
        aggs += [f"sum({k}_{g}) AS {k}_{g}_{window}" for k, g in SHARE_GROUPS]
    if index == len(WINDOWS) - 1:
        aggs += ["min(first_day) AS first_day", "max(last_day) AS last_day"]
        return f"SELECT c, {select_list(aggs)} FROM customer_bands GROUP BY c"
    return f"SELECT c, {select_list(aggs)} FROM customer_bands WHERE b <= {index} GROUP BY c"


def _age_bucket(col: str) -> str:
    """SQL age bucket index (see module doc)."""
    whens = " ".join(f"WHEN {col} < {b} THEN {i}" for i, b in enumerate(AGE_BUCKETS[1:]))
    return f"CASE WHEN {col} IS NULL THEN -1 {whens} ELSE {len(AGE_BUCKETS) - 1} END"


def feature_expressions(cutoff: dt.date) -> dict[str, str]:
    """SQL expression of every customer feature over the joined aggregates."""
    ex: dict[str, str] = {}
    for w in WINDOWS:
        n = f"coalesce(n_{w}, 0)"
        ex |= {
            f"c_n_tx_{w}": n,
            f"c_n_articles_{w}": f"coalesce(arts_{w}, 0)",
            f"c_spend_{w}": f"coalesce(s_{w}, 0)",
            f"c_mean_price_{w}": ratio(f"s_{w}", n),
            f"c_active_days_{w}": f"coalesce(days_{w}, 0)",
            f"c_n_channels_{w}": f"coalesce(ch_{w}, 0)",
            f"c_ch2_share_{w}": ratio(f"n2_{w}", n),
            f"c_price_ratio_{w}": ratio(f"pr_{w}", n),
            f"c_repurchase_ratio_{w}": ratio(f"coalesce(rep_{w}, 0)", n),
        }
    ex["c_days_since_last"] = f"{date(cutoff)} - last_day"
    ex["c_days_since_first"] = f"{date(cutoff)} - first_day"
    for w in SHARE_WINDOWS:
        for kind, g in SHARE_GROUPS:
            ex[f"c_share_{kind}_{g}_{w}"] = ratio(f"coalesce({kind}_{g}_{w}, 0)", f"n_{w}")
    ex |= {
        "c_age": "age",
        "c_age_bucket": _age_bucket("age"),
        "c_club_member_status": "club_member_status",
        "c_fashion_news_frequency": "fashion_news_frequency",
        "c_fn": "FN",
        "c_active": "Active",
    }
    return ex


def customer_snapshot_sql(cutoff: dt.date, ts: str) -> str:
    """The customer snapshot: one row per customer of the lake, spec columns in spec order.

    Reads the temp table ``customer_bands`` made by :func:`prepare`."""
    ex = feature_expressions(cutoff)
    specs = customer_features()
    check_covers(ex, specs, "customer")
    cols = [f"cu.{schema.CUSTOMER_ID}::BIGINT AS {schema.CUSTOMER_ID}", f"{ts} AS event_timestamp"]
    cols += [cast(s, ex[s.name]) for s in specs]
    joins = "\n".join(
        f"LEFT JOIN ({window_sql(i, w)}) w{i} ON w{i}.c = cu.{schema.CUSTOMER_ID}"
        for i, w in enumerate(WINDOWS)
    )
    return f"""
SELECT {select_list(cols)}
FROM customers cu
{joins}
ORDER BY cu.{schema.CUSTOMER_ID}"""
