"""Data validation of the raw H&M files with Great Expectations (one suite per file)."""

from recsys.validation.report import Failure, TableResult, ValidationReport
from recsys.validation.runner import validate_tables

__all__ = ["Failure", "TableResult", "ValidationReport", "validate_tables"]
