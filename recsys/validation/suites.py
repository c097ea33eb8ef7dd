"""One Great Expectations suite per raw file (articles, customers, transactions).

The suites are plain lists of GE expectations built from :mod:`recsys.schema` and the
:class:`~recsys.settings.Settings` bounds; :func:`build_suite` wraps them into an
``ExpectationSuite``. Great Expectations is imported lazily (it takes seconds to import).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from recsys import schema
from recsys.settings import Settings

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.expectations import Expectation

TABLE_FILES: dict[str, str] = {
    schema.ARTICLES: schema.ARTICLES_FILE,
    schema.CUSTOMERS: schema.CUSTOMERS_FILE,
    schema.TRANSACTIONS: schema.TRANSACTIONS_FILE,
}
EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    schema.ARTICLES: tuple(schema.ARTICLE_COLUMNS),
    schema.CUSTOMERS: (*schema.CUSTOMER_COLUMNS, schema.CUSTOMER_HEX),
    schema.TRANSACTIONS: tuple(schema.TRANSACTION_COLUMNS),
}
TABLE_ORDER = (schema.ARTICLES, schema.CUSTOMERS, schema.TRANSACTIONS)

PRODUCT_CODE = "product_code"
DETAIL_DESC = "detail_desc"  # the one article column that may be empty (416 in the real catalogue)
INDEX_CODE = "index_code"
CLUB_MEMBER_STATUS = "club_member_status"
FASHION_NEWS_FREQUENCY = "fashion_news_frequency"
AGE = "age"
FLAG_COLUMNS = ("FN", "Active")  # 1.0 or empty in the raw file
HEX_ID_REGEX = r"^[0-9a-f]{64}$"
UNKNOWN_CODE = -1  # the real catalogue codes "Unknown" as -1 (e.g. product_type_no, colour codes)
ARTICLE_CODE_COLUMNS = tuple(
    field.name
    for field in schema.ARTICLE_SCHEMA
    if pa.types.is_integer(field.type) and field.name not in (schema.ARTICLE_ID, PRODUCT_CODE)
)


@dataclass(frozen=True)
class Reference:
    """A foreign key of transactions, checked through a boolean helper column."""

    flag: str  # helper column added to the validated frame, expected to be all True
    column: str  # the transactions column it checks
    table: str  # the referenced table


REFERENCES = (
    Reference("article_id_exists_in_articles", schema.ARTICLE_ID, schema.ARTICLES),
    Reference("customer_id_exists_in_customers", schema.CUSTOMER_ID, schema.CUSTOMERS),
)
HELPER_COLUMNS = frozenset(ref.flag for ref in REFERENCES)


def build_suite(table: str, settings: Settings, flags: tuple[str, ...] = ()) -> ExpectationSuite:
    """The expectation suite of ``table``; ``flags`` are the reference helper columns present."""
    import great_expectations as gx

    builders = {
        schema.ARTICLES: lambda: article_expectations(),
        schema.CUSTOMERS: lambda: customer_expectations(settings),
        schema.TRANSACTIONS: lambda: transaction_expectations(settings, flags),
    }
    # expectations passed to the constructor: add_expectation() would save the suite each time
    return gx.ExpectationSuite(
        name=table, expectations=builders[table](), meta={"file": TABLE_FILES[table]}
    )


def _columns_exactly(table: str, extra: tuple[str, ...] = ()) -> Expectation:
    """Exact column set (``extra``: helper columns added by the runner, not in the file)."""
    import great_expectations.expectations as gxe

    columns = EXPECTED_COLUMNS[table]
    return gxe.ExpectTableColumnsToMatchSet(
        column_set=[*columns, *extra],
        exact_match=True,
        description=f"columns must be exactly: {', '.join(columns)}",
    )


def _not_null(column: str) -> Expectation:
    """No empty values in ``column``."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToNotBeNull(
        column=column, description=f"{column} must not be empty"
    )


def _unique(column: str, why: str = "") -> Expectation:
    """No value twice in ``column`` (``why`` completes the description)."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeUnique(
        column=column, description=f"{column} must be unique{why}"
    )


def _in_set(column: str, values: tuple[Any, ...], nulls_ok: bool = False) -> Expectation:
    """Values among ``values`` (GE skips empty values; ``nulls_ok`` only changes the text)."""
    import great_expectations.expectations as gxe

    allowed = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    text = f"{column} must be one of {{{allowed}}}" + (" (or empty)" if nulls_ok else "")
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values), description=text)


def _between(column: str, low: Any, high: Any, text: str, strict_min: bool = False) -> Expectation:
    """Values in [low, high] (``strict_min``: (low, high]; None: unbounded; empties skipped)."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=low, max_value=high, strict_min=strict_min, description=text
    )


def article_expectations() -> list[Expectation]:
    """articles.csv: ids present, unique and sane; names present; codes known."""
    expectations = [_columns_exactly(schema.ARTICLES)]
    expectations += [_not_null(c) for c in schema.ARTICLE_COLUMNS if c != DETAIL_DESC]
    expectations += [
        _unique(schema.ARTICLE_ID),
        _between(schema.ARTICLE_ID, 0, 2**31 - 1, "article_id must be in (0, 2**31)", True),
        _between(PRODUCT_CODE, 0, None, "product_code must be > 0", strict_min=True),
        _in_set(INDEX_CODE, schema.INDEX_CODES),
    ]
    expectations += [
        _between(c, UNKNOWN_CODE, None, f"{c} must be >= {UNKNOWN_CODE} (-1 = unknown)")
        for c in ARTICLE_CODE_COLUMNS
    ]
    return expectations


def customer_expectations(settings: Settings) -> list[Expectation]:
    """customers.csv: 64-hex ids, unique also as int64, known categories, plausible ages."""
    import great_expectations.expectations as gxe

    hex_id = schema.CUSTOMER_HEX
    return [
        _columns_exactly(schema.CUSTOMERS),
        _not_null(hex_id),
        _unique(hex_id),
        gxe.ExpectColumnValuesToMatchRegex(
            column=hex_id, regex=HEX_ID_REGEX, description=f"{hex_id} must be 64 lowercase hex"
        ),
        _not_null(schema.CUSTOMER_ID),
        _unique(schema.CUSTOMER_ID, " (the int64 of the raw id's last 16 hex digits)"),
        _in_set(CLUB_MEMBER_STATUS, schema.CLUB_MEMBER_STATUSES, nulls_ok=True),
        _in_set(FASHION_NEWS_FREQUENCY, schema.FASHION_NEWS_FREQUENCIES, nulls_ok=True),
        _between(
            AGE,
            settings.age_min,
            settings.age_max,
            f"age must be in [{settings.age_min}, {settings.age_max}] (or empty)",
        ),
        *(_in_set(c, (1.0,), nulls_ok=True) for c in FLAG_COLUMNS),
    ]


def transaction_expectations(settings: Settings, flags: tuple[str, ...] = ()) -> list[Expectation]:
    """transactions_train.csv: complete rows, sane prices/channels/dates, known ids."""
    low, high = settings.price_min, settings.price_max
    first, last = settings.date_min, settings.latest_date
    expectations = [_columns_exactly(schema.TRANSACTIONS, flags)]
    expectations += [_not_null(c) for c in schema.TRANSACTION_COLUMNS]
    expectations += [
        _between(schema.PRICE, low, high, f"price must be in ({low}, {high}]", strict_min=True),
        _in_set(schema.SALES_CHANNEL_ID, schema.SALES_CHANNELS),
        _between(
            schema.T_DAT,
            _midnight(first),
            _midnight(last),
            f"t_dat must be in [{first}, {last}] (not before date_min, not in the future)",
        ),
    ]
    expectations += [_reference(ref) for ref in REFERENCES if ref.flag in flags]
    return expectations


def _reference(ref: Reference) -> Expectation:
    """All-True expectation on a helper flag; ``meta.column`` names the real column."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(
        column=ref.flag,
        value_set=[True],
        description=f"{ref.column} must exist in {TABLE_FILES[ref.table]}",
        meta={"column": ref.column, "references": ref.table},
    )


def _midnight(day: dt.date) -> dt.datetime:
    """``day`` as a naive datetime, comparable with a ``datetime64[ns]`` column."""
    return dt.datetime.combine(day, dt.time.min)
