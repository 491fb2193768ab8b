"""The mainland calendar statutory clocks end in: Monday to Friday, less
public holidays, plus the weekend days declared working days (调休), from
python-holidays' China calendar (it computes the lunar holidays of any year
and carries the State Council's published 调休 days; a year not yet
published falls back to the holidays alone, never to an error)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays


@lru_cache(maxsize=1)
def _calendar() -> holidays.HolidayBase:
    return holidays.country_holidays("CN")


@lru_cache(maxsize=8192)
def is_working_day(day: dt.date) -> bool:
    return bool(_calendar().is_working_day(day))
