"""Fixtures of the validation tests (frames are built in ``validation_frames``)."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
from validation_frames import as_tables, make_articles, make_customers, make_transactions

from recsys.settings import Settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture
def settings() -> Settings:
    """Settings with a fixed latest date."""
    return Settings(date_max=dt.date(2020, 9, 22))


@pytest.fixture
def good_tables() -> dict[str, pd.DataFrame]:
    """All three valid frames."""
    return as_tables(make_articles(), make_customers(), make_transactions())
