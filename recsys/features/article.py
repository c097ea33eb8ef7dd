"""Article snapshot query: sales per window, price history, buyers, trend, rank and catalogue.

Interpretations of the contract (``recsys.features.spec``):

* ``units`` and ``buyers`` are 0 when nothing sold in the window; mean price, online share and
  buyer age are then NULL. Articles never sold have NULL prices, days and rates.
* ``buyer_age_mean``/``a_buyer_age_median``: over distinct buyers (each buyer once, unknown ages
  ignored), not over rows.
* ``a_latest_price``: mean price of the rows on the article's last sale day (days carry no time).
* ``a_discount``: 1 - latest price / max price ever paid (0 = at its top price).
* ``a_trend``: units in the last 7 days / (units in the 21 days before those / 3); NULL if that
  denominator is 0.
* ``a_repurchase_rate``: share of lifetime buyers who bought the article on 2+ distinct days.
* ``a_rank_in_type_*``: dense rank (1 = best seller) of the window's units within the article's
  ``product_type_no``; NULL for articles without a sale in the window.
"""

from __future__ import annotations

import datetime as dt

from recsys import schema
from recsys.features.spec import ARTICLE_STATIC, WINDOWS, article_features
from recsys.features.sql import (
    band,
    cast,
    check_covers,
    date,
    ratio,
    select_list,
    upto,
)

TREND_BASE_DAYS = (28, 7)  # the 21 days before the last week: [cutoff - 28, cutoff - 7)
RANK_WINDOWS = ("1w", "4w")
SUMMED = ("units", "buyers", "s", "n2")  # additive over bands


def banded_sql(cutoff: dt.date) -> str:
    """Per article and window band (see :func:`sql.band`): additive sums over ``pd``."""
    lo, hi = (date(cutoff - dt.timedelta(days=d)) for d in TREND_BASE_DAYS)
    return f"""
SELECT a, {band(cutoff, list(WINDOWS))} AS b, sum(n) AS units,
  count(*) FILTER (WHERE is_last) AS buyers, sum(s) AS s, sum(n2) AS n2,
  sum(age) FILTER (WHERE is_last) AS age_sum, count(age) FILTER (WHERE is_last) AS age_n,
  max(mx) AS mx, min(t) AS first_day, max(t) AS last_day,
  count(*) FILTER (WHERE is_last AND first_t < t) AS repeat_buyers,
  sum(n) FILTER (WHERE t >= {lo} AND t < {hi}) AS trend_base
FROM pd
GROUP BY ALL"""


def prepare(con, cutoff: dt.date) -> None:
    """Create ``article_bands`` for ``cutoff`` (the customer query needs it too: mean prices)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE article_bands AS {banded_sql(cutoff)}")


def sales_sql(cutoff: dt.date) -> str:
    """One row per article sold before the cutoff: window sums (cumulated over bands).

    Reads the temp table ``article_bands`` (:func:`banded_sql`, made by :func:`prepare`)."""
    last = len(WINDOWS) - 1
    aggs = []
    for i, w in enumerate(WINDOWS):
        aggs += [f"{upto(f'sum({x})', i, last)} AS {x}_{w}" for x in SUMMED]
        aggs.append(
            f"{upto('sum(age_sum)', i, last)} / nullif({upto('sum(age_n)', i, last)}, 0) AS age_{w}"
        )
    aggs += [
        "max(mx) AS max_price",
        "min(first_day) AS first_day",
        "max(last_day) AS last_day",
        "sum(repeat_buyers) AS repeat_buyers",
        "sum(trend_base) AS trend_base",
    ]
    return f"SELECT a, {select_list(aggs)} FROM article_bands GROUP BY a"


def median_age_sql() -> str:
    """One row per article sold: the median age of its (distinct, lifetime) buyers."""
    return """
SELECT a, median(age) AS age_median
FROM pd
WHERE is_last
GROUP BY a"""


def latest_price_sql() -> str:
    """One row per article sold: the mean price of its last sale day."""
    return """
SELECT a, sum(s) / sum(n) AS latest_price
FROM pd SEMI JOIN (SELECT a, max(last_day) AS t FROM article_bands GROUP BY a) USING (a, t)
GROUP BY a"""


def _rank(w: str) -> str:
    """Dense rank of units in window ``w`` within the product type; NULL if none sold."""
    units = f"coalesce(units_{w}, 0)"
    return (
        f"CASE WHEN {units} > 0 THEN dense_rank() OVER "
        f"(PARTITION BY ar.product_type_no ORDER BY {units} DESC) END"
    )


def feature_expressions(cutoff: dt.date) -> dict[str, str]:
    """SQL expression of every article feature over the joined aggregates."""
    ex: dict[str, str] = {}
    for w in WINDOWS:
        ex |= {
            f"a_units_{w}": f"coalesce(units_{w}, 0)",
            f"a_buyers_{w}": f"coalesce(buyers_{w}, 0)",
            f"a_mean_price_{w}": ratio(f"s_{w}", f"units_{w}"),
            f"a_ch2_share_{w}": ratio(f"n2_{w}", f"units_{w}"),
            f"a_buyer_age_mean_{w}": f"age_{w}",
        }
    ex |= {
        "a_latest_price": "latest_price",
        "a_max_price": "max_price",
        "a_discount": f"1 - {ratio('latest_price', 'max_price')}",
        "a_days_on_sale": "last_day - first_day",
        "a_days_since_first_sale": f"{date(cutoff)} - first_day",
        "a_days_since_last_sale": f"{date(cutoff)} - last_day",
        "a_buyer_age_median": "age_median",
        "a_trend": ratio("coalesce(units_1w, 0)", "trend_base / 3.0"),
        "a_repurchase_rate": ratio("repeat_buyers", "buyers_all"),
    }
    ex |= {f"a_rank_in_type_{w}": _rank(w) for w in RANK_WINDOWS}
    ex |= {f"a_{name}": f"ar.{name}" for name, _ in ARTICLE_STATIC}
    return ex


def article_snapshot_sql(cutoff: dt.date, ts: str) -> str:
    """The article snapshot: one row per article of the lake, spec columns in spec order."""
    ex = feature_expressions(cutoff)
    specs = article_features()
    check_covers(ex, specs, "article")
    aid = schema.ARTICLE_ID
    cols = [f"ar.{aid}::INTEGER AS {aid}", f"{ts} AS event_timestamp"]
    cols += [cast(s, ex[s.name]) for s in specs]
    return f"""
SELECT {select_list(cols)}
FROM articles ar
LEFT JOIN ({sales_sql(cutoff)}) sa ON sa.a = ar.{aid}
LEFT JOIN ({latest_price_sql()}) lp ON lp.a = ar.{aid}
LEFT JOIN ({median_age_sql()}) md ON md.a = ar.{aid}
ORDER BY ar.{aid}"""
