"""Tiny hand-built typed frames (index = CSV line number) for the validation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema

HEXES = [f"{i:02x}" * 32 for i in (0xA1, 0xB2, 0xC3, 0xD4)]
ARTICLE_IDS = [108775015, 108775044, 110065001]


def hex_to_int64(hex_id: str) -> int:
    """The lake's customer_id: int64 view of the last 16 hex digits."""
    return int(np.array([int(hex_id[-16:], 16)], dtype=np.uint64).view(np.int64)[0])


def lines(n: int) -> pd.RangeIndex:
    """Line numbers of n data rows (header is line 1)."""
    return pd.RangeIndex(2, n + 2)


def make_articles() -> pd.DataFrame:
    """Three valid articles with all 25 columns."""
    n = len(ARTICLE_IDS)
    data: dict[str, object] = {}
    for field in schema.ARTICLE_SCHEMA:
        if field.name == schema.ARTICLE_ID:
            data[field.name] = np.array(ARTICLE_IDS, dtype=np.int32)
        elif field.name == "product_code":
            data[field.name] = np.array([i // 1000 for i in ARTICLE_IDS], dtype=np.int32)
        elif field.name == "index_code":
            data[field.name] = ["A", "D", "S"]
        elif str(field.type) == "int32":
            data[field.name] = np.array([-1, 5, 1010016][:n], dtype=np.int32)
        else:
            data[field.name] = [f"{field.name} {i}" for i in range(n)]
    data["detail_desc"] = ["Jersey top.", None, "Trousers."]
    return pd.DataFrame(data, index=lines(n))


def make_customers() -> pd.DataFrame:
    """Four valid customers (customer_id int64 plus the raw hex)."""
    return pd.DataFrame(
        {
            schema.CUSTOMER_ID: np.array([hex_to_int64(h) for h in HEXES], dtype=np.int64),
            "FN": np.array([1.0, np.nan, np.nan, 1.0], dtype=np.float32),
            "Active": np.array([1.0, np.nan, 1.0, np.nan], dtype=np.float32),
            "club_member_status": ["ACTIVE", "PRE-CREATE", None, "LEFT CLUB"],
            "fashion_news_frequency": ["NONE", "Regularly", None, "Monthly"],
            "age": np.array([21.0, 49.0, np.nan, 14.0], dtype=np.float32),
            "postal_code": ["52043ee2162cf5aa" * 4] * 4,
            schema.CUSTOMER_HEX: HEXES,
        },
        index=lines(4),
    )


def make_transactions() -> pd.DataFrame:
    """Eight valid transactions (a duplicate row included: multi-unit buys are legal)."""
    days = ["2018-09-20", "2018-09-20", "2019-05-01", "2020-09-22"] + ["2000-01-01"] * 2
    days += ["2020-09-22"] * 2
    who = (0, 1, 2, 0, 3, 3, 1, 1)
    what = (0, 1, 2, 2, 0, 1, 0, 0)
    return pd.DataFrame(
        {
            schema.T_DAT: pd.to_datetime(days),
            schema.CUSTOMER_ID: np.array([hex_to_int64(HEXES[i]) for i in who], dtype=np.int64),
            schema.ARTICLE_ID: np.array([ARTICLE_IDS[i] for i in what], dtype=np.int32),
            schema.PRICE: np.array([0.0209, 0.0423, 1.0, 0.0169, 0.3, 0.2, 0.05, 0.05], np.float32),
            schema.SALES_CHANNEL_ID: np.array([2, 1, 2, 2, 1, 2, 1, 1], dtype=np.int8),
        },
        index=lines(8),
    )


def as_tables(
    articles: pd.DataFrame, customers: pd.DataFrame, transactions: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The ``tables`` argument of ``validate_tables``."""
    return {
        schema.ARTICLES: articles,
        schema.CUSTOMERS: customers,
        schema.TRANSACTIONS: transactions,
    }
