"""The mainland calendar every service counts statutory clocks in
(svc_common.calendar): Beijing days, public holidays and 调休 days."""

from __future__ import annotations

import datetime as dt

from svc_common import calendar


def test_working_days_skip_national_day_and_count_the_make_up_sunday() -> None:
    # 2026: 1-7 October off, the 6th and 7th in exchange for working on
    # Sunday 20 September and Saturday 10 October (调休).
    assert calendar.is_working_day(dt.date(2026, 9, 20))
    assert calendar.is_working_day(dt.date(2026, 10, 10))
    assert not calendar.is_working_day(dt.date(2026, 10, 6))
    assert not calendar.is_working_day(dt.date(2026, 5, 1))  # Labour Day
    assert calendar.add_working_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert calendar.add_working_days(dt.date(2026, 9, 18), 1) == dt.date(2026, 9, 20)
    # A Friday evening in Beijing: three working days are Mon, Tue, Wed.
    friday = dt.datetime(2026, 6, 5, 12, 0, tzinfo=dt.UTC)
    due = calendar.working_deadline(friday, 3)
    assert due == dt.datetime(2026, 6, 10, 16, 0, tzinfo=dt.UTC)  # Thursday 00:00 CST


def test_days_are_beijing_days() -> None:
    # 07:30 in Beijing on 2 March is still 1 March in UTC.
    assert calendar.local_date(dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)) == dt.date(
        2026, 3, 2
    )
    assert calendar.start_of_day(dt.date(2026, 3, 2)) == dt.datetime(
        2026, 3, 1, 16, 0, tzinfo=dt.UTC
    )
    assert calendar.end_of_day(dt.date(2026, 3, 2)) == dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.UTC)


def test_a_deadline_is_said_as_the_day_it_is_met_on() -> None:
    """A deadline written as the first instant after its day (`end_of_day`)
    is that day in Beijing, not the day after."""
    due = calendar.end_of_day(dt.date(2026, 3, 2))
    assert calendar.deadline_day(due) == dt.date(2026, 3, 2)
    assert calendar.deadline_day(due + dt.timedelta(microseconds=1)) == dt.date(2026, 3, 3)
    first = dt.datetime.min.replace(tzinfo=dt.UTC)
    assert calendar.deadline_day(first) == dt.date(1, 1, 1)
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    assert calendar.deadline_day(never) == dt.date(9999, 12, 31)
