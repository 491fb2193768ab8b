"""Dates as the bureau counts them. People see Asia/Shanghai (UTC+8, no
daylight saving) dates; statutory clocks count working days of the mainland
calendar: Monday to Friday, less public holidays, plus the weekend days
declared working days (调休). The calendar is python-holidays' China
calendar: it computes the lunar holidays of any year and carries the State
Council's published 调休 days, so a year not yet published falls back to the
holidays alone, never to an error.

One calendar for every service: supervision-svc counts a complaint's
clocks in working days (`working_deadline`), eia-svc ends a statutory
clock of calendar days on a working day (`is_working_day`, `end_of_day`)."""

from __future__ import annotations

import contextlib
import datetime as dt
from functools import lru_cache

import holidays

from svc_common.clock import CHINA_STANDARD_TIME as CHINA_STANDARD_TIME


@lru_cache(maxsize=1)
def _calendar() -> holidays.HolidayBase:
    return holidays.country_holidays("CN")


def local_date(at: dt.datetime) -> dt.date:
    """The calendar day in Beijing at the instant `at` (tz-aware)."""
    return at.astimezone(CHINA_STANDARD_TIME).date()


def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 in Beijing on `day`, as an aware UTC instant."""
    return dt.datetime.combine(day, dt.time(), CHINA_STANDARD_TIME).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after `day` in Beijing: a deadline on `day` is met before it."""
    return start_of_day(day + dt.timedelta(days=1))


def deadline_day(deadline: dt.datetime) -> dt.date:
    """The Beijing day a deadline written as the first instant after it
    (`end_of_day`, as supervision-svc's complaint clocks are) is met on:
    that day, not the day after, as people are told it. At the calendar's
    ends (a "never" some systems write, 9999-12-31) it is the UTC day
    rather than a failure."""
    with contextlib.suppress(OverflowError):  # the calendar's first instant
        deadline -= dt.timedelta(microseconds=1)
    try:
        return local_date(deadline)
    except OverflowError:  # within eight hours of the calendar's end
        return deadline.astimezone(dt.UTC).date()


@lru_cache(maxsize=8192)
def is_working_day(day: dt.date) -> bool:
    return bool(_calendar().is_working_day(day))


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The n-th working day after `day` (the day itself does not count)."""
    if n < 0:
        raise ValueError("n must not be negative")
    while n:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def working_deadline(at: dt.datetime, n: int) -> dt.datetime:
    """The end of the n-th working day after the Beijing date of `at`."""
    return end_of_day(add_working_days(local_date(at), n))
