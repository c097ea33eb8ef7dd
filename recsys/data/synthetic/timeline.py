"""Calendar of a world: weeks (Wednesday..Tuesday), seasons and the shop's weekly traffic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from recsys.data.synthetic.scales import DAYS_PER_WEEK, ScaleConfig

# Share of purchases per day of week, Wednesday first (from the real H&M sample).
DAY_OF_WEEK_SHARE = np.array([0.155, 0.155, 0.148, 0.151, 0.136, 0.134, 0.123])
SUMMER_PEAK_DAY = 196  # mid July: summer types sell most, winter types least
SEASON_STRENGTH = 1.1  # log-multiplier of a fully seasonal type at its peak
PRE_WINDOW_WEEKS = 40  # articles may launch this many weeks before the first simulated week


def week_starts(scale: ScaleConfig) -> list[dt.date]:
    """The Wednesday that opens each simulated week, oldest first."""
    return [scale.start_date + dt.timedelta(days=DAYS_PER_WEEK * w) for w in range(scale.n_weeks)]


def day_strings(scale: ScaleConfig) -> pa.Array:
    """``YYYY-MM-DD`` of every simulated day (position = day number from the start)."""
    days = [scale.start_date + dt.timedelta(days=d) for d in range(scale.n_days)]
    return pa.array([d.isoformat() for d in days], type=pa.string())


def season_phase(scale: ScaleConfig) -> np.ndarray:
    """Per week: cos of the year angle, +1 in mid July, -1 in mid January."""
    doy = np.array([(d + dt.timedelta(days=3)).timetuple().tm_yday for d in week_starts(scale)])
    return np.cos(2 * np.pi * (doy - SUMMER_PEAK_DAY) / 365.25)


def season_multiplier(type_season: np.ndarray, phase: float) -> np.ndarray:
    """Demand multiplier of product types (season score -1..1) in a week of the given phase."""
    return np.exp(SEASON_STRENGTH * type_season * phase)


def traffic(scale: ScaleConfig, rng: np.random.Generator) -> np.ndarray:
    """Relative shop traffic per week (mean 1): summer sale and December peaks, a February dip."""
    weeks = week_starts(scale)
    doy = np.array([(d + dt.timedelta(days=3)).timetuple().tm_yday for d in weeks])
    base = 1.0 + 0.18 * np.cos(2 * np.pi * (doy - 185) / 365.25)
    base += 0.25 * np.exp(-0.5 * ((doy - 178) / 7.0) ** 2)  # summer sale
    base += 0.20 * np.exp(-0.5 * ((doy - 332) / 5.0) ** 2)  # black friday
    base += 0.15 * np.exp(-0.5 * ((doy - 352) / 6.0) ** 2)  # christmas
    noisy = base * rng.lognormal(0.0, 0.08, size=len(weeks))
    return noisy / noisy.mean()
