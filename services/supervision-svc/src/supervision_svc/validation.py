"""Checks of request values shared by the routers: every bad value is a 422
naming the field, never a 500."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from svc_common.errors import field_error
from svc_common.i18n import msg
from svc_common.pagination import decode_cursor
from svc_common.types import VisibleText
from svc_common.uscc import USCC as SharedUSCC
from svc_common.uscc import uscc_problem


def _upper(v: Any) -> Any:
    return v.strip().upper() if isinstance(v, str) else v


def _check_uscc(v: str) -> str:
    if problem := uscc_problem(v):
        raise ValueError(problem)
    return v


#: A unified social credit code (统一社会信用代码) in a request body: the
#: shared strict type (18 characters as GB 32100 writes them).
USCC = SharedUSCC


def uscc_param(value: str, field: str = "uscc") -> str:
    """A USCC given in a path or query."""
    value = value.strip().upper()
    if len(value) > 40:
        raise field_error(field, msg("is too long to be a USCC", "过长，不是统一社会信用代码"))
    if problem := uscc_problem(value):
        raise field_error(field, problem)
    return value


def cursor_str(cursor: str) -> str:
    """The USCC (or other string key) a cursor of this API carries."""
    value: str = decode_cursor(cursor, "str")
    return value


def cursor_position(cursor: str) -> tuple[dt.datetime, str]:
    """The (time, id) a cursor of this API carries; anything else is a 422."""
    at, last_id = decode_cursor(cursor, "time", "str") or (None, None)
    return at, last_id


def date_range(start: dt.date | None, end: dt.date | None) -> None:
    if start and end and start > end:
        raise field_error("from", msg("must not be after 'to'", "不得晚于 to"))
    if start and end and (end - start).days > 3660:
        raise field_error("to", msg("the range must not exceed ten years", "时间范围不得超过十年"))


#: The first day a date may be given as (svc_common.types.Day): the day
#: before begins, in Beijing, before the first moment a time can hold.
FIRST_DAY = dt.date.min + dt.timedelta(days=1)


def report_period(
    start: dt.date | None, end: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """A report's period of Beijing dates: to `end` (today if not given)
    from `start` (1 January of `end`'s year if not given: 今年以来 when
    neither is; in the year 1 its first day a date may be given, 0001-01-02,
    as 0001-01-01 begins before the first moment a time can hold in
    Beijing); refused as `date_range` refuses it."""
    end = end or today
    start = start or max(end.replace(month=1, day=1), FIRST_DAY)
    date_range(start, end)
    return start, end


def not_before_today(day: dt.date, today: dt.date, field: str) -> None:
    """A deadline set now (a rectification order's, a demand's) is not before
    the day it is set, `today` in Beijing (calendar.local_date of the clock)."""
    if day < today:
        raise field_error(
            field,
            msg(
                f"must not be before today ({today}, Beijing time)",
                f"不得早于今天（北京时间 {today}）",
            ),
        )


#: A person's name in a request body (交办的承办人, 责任人): 1 to 100 characters
#: once stripped, none a reader cannot see (a zero-width space would make a
#: name look like another, or like none), nor a tab or line break: the
#: shared check (svc_common.types.VisibleText), as inspectors' names have.
PersonName = Annotated[str, VisibleText(100, name=True)]

#: Why a step was taken (不予受理、重新办理的理由): 1 to 500 characters once
#: stripped, beginning and ending with a visible one (a reason of zero-width
#: spaces, or one trailing a word joiner, says nothing or hides something).
Reason = Annotated[str, VisibleText(500)]
