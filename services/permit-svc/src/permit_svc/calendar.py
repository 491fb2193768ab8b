"""Dates as the bureau counts them: statutory dates (valid-from/to, deadlines)
are calendar days in China Standard Time (UTC+8, no daylight saving), while
instants are stored in UTC."""

from __future__ import annotations

import datetime as dt

from svc_common.calendar import local_date as local_today

__all__ = ["add_years", "local_today", "validity_end"]


def add_years(day: dt.date, years: int) -> dt.date:
    """Same month and day `years` later; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def validity_end(start: dt.date, years: int) -> dt.date:
    """Last valid day of a term of `years` starting on `start` (inclusive)."""
    return add_years(start, years) - dt.timedelta(days=1)
