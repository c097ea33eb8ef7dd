"""The base tables of the snapshot queries: transaction rows with their pair history.

``load_base_tables(con, lake, until)`` reads the transactions before ``until`` once and sorts them
per (customer, article) pair into ``tx_all``: ``c, a, t, p, ch`` plus ``first_t`` (the pair's
first day) and ``next_t`` (the day of the pair's next row, NULL for its last row). Both only
depend on the pair's history, so one ``tx_all`` serves every cutoff ``T <= until``:
:func:`use_cutoff` defines the view ``pd`` over ``t < T`` with

* ``n`` (1), ``s`` (price), ``n2`` (1 if online), ``m`` (bit ``1 << sales_channel_id``), ``mx``
  (price, for maxima): per-row measures the queries sum;
* ``is_last``: the pair's last row before ``T`` (``next_t`` NULL or on/after ``T``), exactly one
  row per pair bought before ``T``, which turns distinct customer/article counts into sums;
* ``first_t``: the pair's first day; a row is a repurchase iff ``t > first_t``;
* ``age`` (the buyer's), ``pg``/``ig`` (the article's group codes, see :func:`group_codes_sql`).

Rows on or after ``T`` only ever move ``next_t`` between values ``>= T`` and NULL, so the view,
and every snapshot built from it, cannot see them.
"""

from __future__ import annotations

import datetime as dt

from recsys import schema
from recsys.data.lake import Lake
from recsys.features.spec import ARTICLE_STATIC, INDEX_GROUPS, PRODUCT_GROUPS
from recsys.features.sql import date, file_list, partition_files, quote

ARTICLE_COLUMNS = (
    schema.ARTICLE_ID,
    *(name for name, _ in ARTICLE_STATIC),
    "index_group_name",
)
CUSTOMER_COLUMNS = (
    schema.CUSTOMER_ID,
    "FN",
    "Active",
    "club_member_status",
    "fashion_news_frequency",
    "age",
)
EMPTY_TX = (
    "SELECT NULL::BIGINT AS c, NULL::INTEGER AS a, NULL::DATE AS t, NULL::FLOAT AS p, "
    "NULL::TINYINT AS ch WHERE FALSE"
)


def transactions_sql(lake: Lake, until: dt.date) -> str:
    """Transaction rows strictly before ``until``, reading only the partitions needed."""
    files = partition_files(lake, until)
    if not files:
        return EMPTY_TX
    return (
        f"SELECT {schema.CUSTOMER_ID} AS c, {schema.ARTICLE_ID} AS a, {schema.T_DAT} AS t, "
        f"{schema.PRICE} AS p, {schema.SALES_CHANNEL_ID} AS ch "
        f"FROM read_parquet({file_list(files)}, hive_partitioning = false) "
        f"WHERE {schema.T_DAT} < {date(until)}"
    )


def pair_history_sql(tx_sql: str) -> str:
    """Rows with their pair's first day and the day of the pair's next row."""
    return f"""
SELECT c, a, t, p, ch, age, pg, ig, first_value(t) OVER pair AS first_t, lead(t) OVER pair AS next_t
FROM ({tx_sql})
WINDOW pair AS (PARTITION BY c, a ORDER BY t)"""


def group_codes_sql() -> str:
    """Per article: ``pg`` (index in PRODUCT_GROUPS, else their count: "other") and ``ig``
    (index in INDEX_GROUPS, else -1)."""
    pg = " ".join(f"WHEN {quote(g)} THEN {i}" for i, g in enumerate(PRODUCT_GROUPS))
    ig = " ".join(f"WHEN {quote(g)} THEN {i}" for i, g in enumerate(INDEX_GROUPS))
    return (
        f"SELECT {schema.ARTICLE_ID} AS a, "
        f"CASE product_group_name {pg} ELSE {len(PRODUCT_GROUPS)} END::TINYINT AS pg, "
        f"CASE index_group_name {ig} ELSE -1 END::TINYINT AS ig FROM articles"
    )


def enriched_sql(tx_sql: str) -> str:
    """Transaction rows with the buyer's age and the article's group codes."""
    return f"""
SELECT tx.*, cu.age, gc.pg, gc.ig
FROM ({tx_sql}) tx
LEFT JOIN customers cu ON cu.{schema.CUSTOMER_ID} = tx.c
LEFT JOIN ({group_codes_sql()}) gc ON gc.a = tx.a"""


def load_base_tables(
    con, lake: Lake, until: dt.date, customers: tuple[int, int] | None = None
) -> None:
    """Create the temp tables ``articles``, ``customers`` and ``tx_all`` (see module doc);
    with ``customers`` = (lo, hi), only those with ids in ``lo..hi`` and their rows."""
    current = lake.current_dir()
    within = "" if customers is None else " WHERE {} BETWEEN {} AND {}"
    for table, columns, key in (
        (schema.ARTICLES, ARTICLE_COLUMNS, None),
        (schema.CUSTOMERS, CUSTOMER_COLUMNS, schema.CUSTOMER_ID),
    ):
        path = quote(str(current / f"{table}.parquet"))
        where = within.format(key, *customers) if key and customers else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT {', '.join(columns)} FROM read_parquet({path}){where}"
        )
    tx = transactions_sql(lake, until)
    if customers is not None:
        tx = f"SELECT * FROM ({tx}){within.format('c', *customers)}"
    history = pair_history_sql(enriched_sql(tx))
    con.execute(f"CREATE OR REPLACE TEMP TABLE tx_all AS {history}")


def use_cutoff(con, cutoff: dt.date) -> None:
    """(Re)define the view ``pd``: the rows of ``tx_all`` before ``cutoff`` (see module doc)."""
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW pd AS
SELECT c, a, t, 1 AS n, p::DOUBLE AS s, (ch = 2)::INTEGER AS n2,
  1::INTEGER << ch::INTEGER AS m, p AS mx, age, pg, ig, first_t,
  next_t IS NULL OR next_t >= {date(cutoff)} AS is_last
FROM tx_all
WHERE t < {date(cutoff)}""")
