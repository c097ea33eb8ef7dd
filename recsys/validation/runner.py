"""Run the suites with Great Expectations (pandas engine) and turn the results into a report.

Layout of ``out_dir``: ``gx/`` (the GE File Data Context: suites, validation definitions,
stored results, Data Docs under ``gx/uncommitted/data_docs/local_site``) and ``results/``
(``<run_id>.json`` and ``latest.json``, see :class:`~recsys.validation.report.ValidationReport`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from recsys import schema
from recsys.settings import Settings
from recsys.validation.report import (
    LINE,
    MAX_EXAMPLES,
    Failure,
    TableResult,
    ValidationReport,
)
from recsys.validation.suites import (
    HELPER_COLUMNS,
    REFERENCES,
    TABLE_FILES,
    TABLE_ORDER,
    Reference,
    build_suite,
)

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context import AbstractDataContext

logger = logging.getLogger(__name__)

DATASOURCE = "hm_recsys"
BATCH_DEFINITION = "whole_frame"
# SUMMARY: counts plus the first unexpected values and their index labels (= CSV line numbers);
# never the full unexpected lists, which would be huge at 31.8M rows.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
BETWEEN = "expect_column_values_to_be_between"
NS = np.dtype("datetime64[ns]")
UINT64 = (1 << 64) - 1
BIG_FRAME = 1_000_000  # rows from which memory is reclaimed eagerly after a table


def validate_tables(
    tables: dict[str, pd.DataFrame],
    out_dir: Path,
    settings: Settings,
    raw_files: dict[str, Path] | None = None,
    references: dict[str, pd.DataFrame] | None = None,
) -> ValidationReport:
    """Validate the typed frames (index = CSV line number) and write JSON + Data Docs.

    ``references``: tables (articles, customers) the transactions' foreign keys are checked
    against without validating them again (e.g. unchanged since the last ingest).
    """
    unknown = set(tables) - set(TABLE_ORDER)
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)}; expected some of {TABLE_ORDER}")
    out_dir = Path(out_dir)
    context = _open_context(out_dir)
    run = _run_identifier()
    files = {
        t: Path(raw_files[t]).name if raw_files and t in raw_files else f
        for t, f in TABLE_FILES.items()
    }
    table_results: list[TableResult] = []
    failures: list[Failure] = []
    identifiers: list[Any] = []
    known = {**(references or {}), **tables}
    for table in (t for t in TABLE_ORDER if t in tables):
        result, identifier = _run_table(context, table, known, settings, run)
        identifiers.append(identifier)
        table_results.append(_table_result(table, files[table], result, len(tables[table])))
        failures += _failures(table, files[table], result, known)
    report = ValidationReport(
        success=all(t.success for t in table_results),
        run_id=str(run.run_name),
        tables=table_results,
        failures=failures,
        json_path=out_dir / "results" / f"{run.run_name}.json",
        docs_path=_build_docs(context, identifiers, out_dir),
    )
    report.write_json()
    return report


def _table_result(
    table: str, file: str, result: ExpectationSuiteValidationResult, n_rows: int
) -> TableResult:
    """The one-line outcome of a table's suite."""
    stats = result.statistics
    evaluated = int(stats["evaluated_expectations"])
    failed = int(stats["unsuccessful_expectations"])
    return TableResult(table, file, bool(result.success), n_rows, evaluated, failed)


def _open_context(out_dir: Path) -> AbstractDataContext:
    """The File Data Context in ``out_dir`` (created on first use; cheap to reopen)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    out_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=out_dir)
    bars = context.variables.progress_bars  # a ProgressBarsConfig, or a dict once reloaded
    values = bars if isinstance(bars, dict) else vars(bars) if bars is not None else {}
    if any(values.get(key, True) for key in ("globally", "metric_calculations")):
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()  # no tqdm bars on the console
    return context


def _run_identifier() -> RunIdentifier:
    """A run named by its UTC start time, e.g. ``20240101T120000123456Z``."""
    from great_expectations.core.run_identifier import RunIdentifier

    now = dt.datetime.now(dt.UTC)
    return RunIdentifier(run_name=now.strftime("%Y%m%dT%H%M%S%fZ"), run_time=now)


def _run_table(
    context: AbstractDataContext,
    table: str,
    tables: dict[str, pd.DataFrame],
    settings: Settings,
    run: RunIdentifier,
) -> tuple[ExpectationSuiteValidationResult, Any]:
    """Register (or update) the table's suite and validation definition, then run it."""
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    flags = tuple(ref.flag for ref in REFERENCES if _reference_applies(ref, table, tables))
    suite = context.suites.add_or_update(build_suite(table, settings, flags))
    definition = gx.ValidationDefinition(
        name=table, data=_batch_definition(context, table), suite=suite
    )
    definition = context.validation_definitions.add_or_update(definition)
    frame = _validation_frame(tables[table], _between_columns(suite), flags, tables)
    # copy-on-write spares GE a full copy of the frame per expectation (23 s -> 10 s at full scale)
    with _no_batch_fingerprint(), pd.option_context("mode.copy_on_write", True):
        result = definition.run(
            batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT, run_id=run
        )
    if len(frame) >= BIG_FRAME:
        del frame
        gc.collect()  # free GE's metric caches (held in reference cycles) before the next table
    batch_id = (
        result.results[0].expectation_config.kwargs.get("batch_id") if result.results else None
    )
    identifier = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=run,
        batch_identifier=batch_id,
    )
    return result, identifier


@contextlib.contextmanager
def _no_batch_fingerprint() -> Iterator[None]:
    """Skip GE's md5 fingerprint of the whole batch (metadata only, ~8 s at 31.8M rows): GE
    hashes frames below ``HASH_THRESHOLD`` bytes, so the threshold is 0 while a suite runs."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    saved = getattr(engine, "HASH_THRESHOLD", None)
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        if saved is None:
            del engine.HASH_THRESHOLD
        else:
            engine.HASH_THRESHOLD = saved


def _batch_definition(context: AbstractDataContext, table: str) -> Any:
    """The whole-dataframe batch definition of ``table`` (data source and asset created once)."""
    if DATASOURCE in context.data_sources.all():
        source = context.data_sources.get(DATASOURCE)
    else:
        source = context.data_sources.add_pandas(DATASOURCE)
    if table in source.get_asset_names():
        asset = source.get_asset(table)
    else:
        asset = source.add_dataframe_asset(table)
    if BATCH_DEFINITION in {b.name for b in asset.batch_definitions}:
        return asset.get_batch_definition(BATCH_DEFINITION)
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _reference_applies(ref: Reference, table: str, tables: dict[str, pd.DataFrame]) -> bool:
    """A foreign-key check runs on transactions when the referenced table is given."""
    if table != schema.TRANSACTIONS or ref.table not in tables:
        return False
    return ref.column in tables[table].columns and ref.column in tables[ref.table].columns


def _between_columns(suite: ExpectationSuite) -> set[str]:
    """Columns with a range check (they get dtypes GE can compare vectorised)."""
    return {e.column for e in suite.expectations if e.expectation_type == BETWEEN}


def _validation_frame(
    frame: pd.DataFrame,
    between: set[str],
    flags: tuple[str, ...],
    tables: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """The frame GE sees: the caller's columns (not copied, except widened range-checked ones)
    plus the boolean foreign-key flags; the caller's frame is left untouched."""
    columns = {c: _widen(frame[c]) if c in between else frame[c] for c in frame.columns}
    for ref in REFERENCES:
        if ref.flag in flags:
            known = tables[ref.table][ref.column]
            columns[ref.flag] = pd.Series(_isin(frame[ref.column], known), index=frame.index)
    return pd.DataFrame(columns, index=frame.index, copy=False)


def _isin(values: pd.Series, known: pd.Series) -> np.ndarray:
    """``values.isin(known)`` as a numpy bool array (hashes ``known``, probes ``values``)."""
    return values.isin(known).to_numpy(dtype=bool)


def _widen(column: pd.Series) -> pd.Series:
    """Numbers to 64 bit and dates to ``datetime64[ns]``: GE's vectorised range check needs
    them (float32/int32/date columns fall back to a per-row Python loop, 30x slower)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf" and dtype.itemsize < 8:
        return column.astype(np.float64 if dtype.kind == "f" else np.int64)
    if dtype == NS or pd.api.types.is_numeric_dtype(dtype) or isinstance(dtype, pd.DatetimeTZDtype):
        return column
    return _to_datetime_ns(column)


def _to_datetime_ns(column: pd.Series) -> pd.Series:
    """Dates (objects, Arrow, any unit) as ``datetime64[ns]``, values beyond its range (e.g.
    year 3000) clipped to it, so they still fail the range check (examples show the original)."""
    if pd.api.types.is_string_dtype(column.dtype) and not _holds_dates(column):
        return column
    try:
        wide = column.astype("datetime64[ms]")
    except (TypeError, ValueError):
        return column  # GE then compares row by row: slow, but still checked
    return wide.clip(pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")).astype(NS)


def _holds_dates(column: pd.Series) -> bool:
    """Whether an object column holds date/datetime objects (not strings)."""
    sample = column.dropna().head(1)
    return bool(len(sample)) and isinstance(sample.iloc[0], dt.date)


def _failures(
    table: str,
    file: str,
    result: ExpectationSuiteValidationResult,
    tables: dict[str, pd.DataFrame],
) -> list[Failure]:
    """One :class:`Failure` per failed expectation, with example rows from the caller's frame."""
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        details = outcome.result or {}
        lines = details.get("partial_unexpected_index_list") or []
        failures.append(
            Failure(
                file=file,
                column=(config.meta or {}).get("column") or config.kwargs.get("column"),
                expectation=config.type,
                description=config.description or config.type,
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get(
                    "unexpected_percent_total", details.get("unexpected_percent")
                ),
                examples=_examples(table, tables, lines),
                table=table,
                observed=_observed(outcome),
            )
        )
    return failures


def _observed(outcome: Any) -> str | None:
    """Extra detail: mismatched columns or the error GE raised while checking."""
    info = outcome.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    errors = [
        i.get("exception_message")
        for i in infos
        if isinstance(i, dict) and i.get("raised_exception")
    ]
    if errors:
        return "error while checking: " + "; ".join(str(e) for e in errors)
    mismatch = ((outcome.result or {}).get("details") or {}).get("mismatched") or {}
    parts = [f"{k}: {', '.join(map(str, v))}" for k, v in sorted(mismatch.items()) if v]
    return "; ".join(parts) or None


def _examples(
    table: str, tables: dict[str, pd.DataFrame], labels: list[Any]
) -> list[dict[str, Any]]:
    """Up to MAX_EXAMPLES offending rows as ``{"line": n, column: value, ...}``."""
    frame = tables[table]
    rows = []
    for label in _line_labels(labels, frame.index.name)[:MAX_EXAMPLES]:
        position = frame.index.get_loc(label)
        if not isinstance(position, int | np.integer):
            continue  # duplicated index label: no single line to show
        row: dict[str, Any] = {LINE: _plain(label)}
        row.update(
            {c: _plain(frame[c].iat[position]) for c in frame.columns if c not in HELPER_COLUMNS}
        )
        rows.append(row)
    return _with_hex_ids(rows, tables)


def _line_labels(labels: list[Any], index_name: Any) -> list[Any]:
    """Distinct index labels; GE gives ``{index_name: label, column: value}`` dicts instead
    of bare labels when the index has a name (e.g. ``line``)."""
    found: list[Any] = []
    for label in labels:
        if isinstance(label, dict):
            label = label.get(index_name)
        if label is not None and label not in found:
            found.append(label)
    return found


def _with_hex_ids(
    rows: list[dict[str, Any]], tables: dict[str, pd.DataFrame]
) -> list[dict[str, Any]]:
    """Show customer ids as the raw 64-hex (``...`` + last 16 hex digits when unknown)."""
    ids = {r[schema.CUSTOMER_ID] for r in rows if isinstance(r.get(schema.CUSTOMER_ID), int)}
    hexes = _hex_lookup(ids, tables.get(schema.CUSTOMERS))
    for row in rows:
        value = row.get(schema.CUSTOMER_ID)
        if schema.CUSTOMER_HEX in row:
            row[schema.CUSTOMER_ID] = row.pop(schema.CUSTOMER_HEX)
        elif isinstance(value, int):
            row[schema.CUSTOMER_ID] = hexes.get(value) or f"...{value & UINT64:016x}"
    return rows


def _hex_lookup(ids: set[int], customers: pd.DataFrame | None) -> dict[int, str]:
    """Raw hex id of each int64 customer id found in the customers frame."""
    if not ids or customers is None or schema.CUSTOMER_HEX not in customers.columns:
        return {}
    found = customers.loc[customers[schema.CUSTOMER_ID].isin(list(ids))]
    return dict(
        zip(found[schema.CUSTOMER_ID].tolist(), found[schema.CUSTOMER_HEX].tolist(), strict=True)
    )


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value (dates as ISO strings, float32 shortest repr, NaN -> None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) else float(str(value))
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dt.datetime):  # pd.Timestamp included
        return value.date().isoformat() if value.time() == dt.time.min else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str | int) else str(value)


def _build_docs(context: AbstractDataContext, identifiers: list[Any], out_dir: Path) -> Path:
    """Render this run's results (and suites) into the local Data Docs site; its index.html."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    suites = [
        ExpectationSuiteIdentifier(name=i.expectation_suite_identifier.name) for i in identifiers
    ]
    default = out_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    try:
        sites = context.build_data_docs(resource_identifiers=[*suites, *identifiers])
    except Exception:  # noqa: BLE001 -- docs are a by-product; the report must still come back
        logger.warning("building Great Expectations Data Docs failed", exc_info=True)
        return default
    url = next(iter(sites.values()), None)
    return Path(unquote(urlparse(url).path)) if url else default
