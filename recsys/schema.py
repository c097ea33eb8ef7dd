"""Column names, file names and dtypes of the H&M (Kaggle) schema, used as defaults everywhere."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

# --- keys and common columns -------------------------------------------------------------------
CUSTOMER_ID = "customer_id"  # int64 in the lake; 64-hex string in raw files
CUSTOMER_HEX = "customer_hex"  # the raw 64-hex id, kept in the lake for the reversible mapping
ARTICLE_ID = "article_id"  # int32
PRODUCT_CODE = "product_code"  # int32: the article's product (its colour variants share it)
T_DAT = "t_dat"  # transaction date
PRICE = "price"
SALES_CHANNEL_ID = "sales_channel_id"
WEEK = "week"  # partition key: the Tuesday that ends the transaction's week (ISO date string)
SCORE = "score"
RANK = "rank"
SOURCE = "source"
EVENT_TIMESTAMP = "event_timestamp"

K = 12  # articles per recommendation list (Kaggle's MAP@12)
CUTOFF = "cutoff"  # the week a candidate row belongs to (its point-in-time timestamp)
FALLBACK = "popular_fallback"  # source of items topped up from the best sellers

# --- raw file names ----------------------------------------------------------------------------
TRANSACTIONS_FILE = "transactions_train.csv"
ARTICLES_FILE = "articles.csv"
CUSTOMERS_FILE = "customers.csv"
RAW_FILES = (TRANSACTIONS_FILE, ARTICLES_FILE, CUSTOMERS_FILE)

# --- table names in the lake -------------------------------------------------------------------
TRANSACTIONS = "transactions"
ARTICLES = "articles"
CUSTOMERS = "customers"

# --- raw columns, in Kaggle's order, with their typed (lake) Arrow types -----------------------
TRANSACTION_SCHEMA = pa.schema(
    [
        (T_DAT, pa.date32()),
        (CUSTOMER_ID, pa.int64()),
        (ARTICLE_ID, pa.int32()),
        (PRICE, pa.float32()),
        (SALES_CHANNEL_ID, pa.int8()),
    ]
)

ARTICLE_SCHEMA = pa.schema(
    [
        (ARTICLE_ID, pa.int32()),
        (PRODUCT_CODE, pa.int32()),
        ("prod_name", pa.string()),
        ("product_type_no", pa.int32()),
        ("product_type_name", pa.string()),
        ("product_group_name", pa.string()),
        ("graphical_appearance_no", pa.int32()),
        ("graphical_appearance_name", pa.string()),
        ("colour_group_code", pa.int32()),
        ("colour_group_name", pa.string()),
        ("perceived_colour_value_id", pa.int32()),
        ("perceived_colour_value_name", pa.string()),
        ("perceived_colour_master_id", pa.int32()),
        ("perceived_colour_master_name", pa.string()),
        ("department_no", pa.int32()),
        ("department_name", pa.string()),
        ("index_code", pa.string()),
        ("index_name", pa.string()),
        ("index_group_no", pa.int32()),
        ("index_group_name", pa.string()),
        ("section_no", pa.int32()),
        ("section_name", pa.string()),
        ("garment_group_no", pa.int32()),
        ("garment_group_name", pa.string()),
        ("detail_desc", pa.string()),
    ]
)

CUSTOMER_SCHEMA = pa.schema(
    [
        (CUSTOMER_ID, pa.int64()),
        ("FN", pa.float32()),
        ("Active", pa.float32()),
        ("club_member_status", pa.string()),
        ("fashion_news_frequency", pa.string()),
        ("age", pa.float32()),
        ("postal_code", pa.string()),
    ]
)

TRANSACTION_COLUMNS = TRANSACTION_SCHEMA.names
ARTICLE_COLUMNS = ARTICLE_SCHEMA.names
CUSTOMER_COLUMNS = CUSTOMER_SCHEMA.names

RAW_COLUMNS = {
    TRANSACTIONS_FILE: TRANSACTION_COLUMNS,
    ARTICLES_FILE: ARTICLE_COLUMNS,
    CUSTOMERS_FILE: CUSTOMER_COLUMNS,
}

# --- allowed category sets (as Kaggle ships them) ----------------------------------------------
SALES_CHANNELS = (1, 2)
CLUB_MEMBER_STATUSES = ("ACTIVE", "PRE-CREATE", "LEFT CLUB")
FASHION_NEWS_FREQUENCIES = ("NONE", "Regularly", "Monthly", "None")
INDEX_CODES = tuple("ABCDFGHIJS")

# --- weeks: Kaggle's weeks run Wednesday..Tuesday ----------------------------------------------
WEEK_END_WEEKDAY = 1  # Tuesday (Monday = 0)
WEEK_EPOCH = dt.date(2018, 9, 26)  # the Wednesday after Kaggle's first week: weeks count from it


def week_end(day: dt.date) -> dt.date:
    """The Tuesday that closes the (Wednesday..Tuesday) week containing ``day``."""
    return day + dt.timedelta(days=(WEEK_END_WEEKDAY - day.weekday()) % 7)


def week_index(cutoff: dt.date) -> int:
    """Whole weeks from :data:`WEEK_EPOCH` to ``cutoff`` (a Wednesday cutoff starts a week)."""
    return (cutoff - WEEK_EPOCH).days // 7
