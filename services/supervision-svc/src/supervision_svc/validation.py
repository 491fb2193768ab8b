"""Checks of request values shared by the routers: every bad value is a 422
naming the field, never a 500."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from svc_common.errors import field_error
from svc_common.guard import REFUSED, SPACES
from svc_common.i18n import msg
from svc_common.pagination import decode_cursor
from svc_common.uscc import USCC as SharedUSCC
from svc_common.uscc import uscc_problem

from supervision_svc.inspections.rules import hidden_characters


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


def report_period(
    start: dt.date | None, end: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """A report's period of Beijing dates: to `end` (today if not given)
    from `start` (1 January of `end`'s year if not given: 今年以来 when
    neither is); refused as `date_range` refuses it."""
    end = end or today
    start = start or end.replace(month=1, day=1)
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


def _ranges(codes: range) -> list[tuple[int, int]]:
    """The runs of code points in `codes` that inspections.rules.hidden_characters
    calls hidden (control, format, private-use characters). Surrogates are
    left out: no text holds one (the front door refuses a lone surrogate,
    svc_common.guard), and regex engines that read patterns by code point
    (Rust's, which schemathesis's validator uses) refuse `\ud800` in one."""
    runs: list[tuple[int, int]] = []
    for c in codes:
        if 0xD800 <= c <= 0xDFFF or not hidden_characters(chr(c)):
            continue
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return runs


def _char(c: int) -> str:
    # A character outside the BMP is written as itself (Python's `re` reads it).
    return f"\\u{c:04x}" if c <= 0xFFFF else chr(c)


@functools.cache
def _hidden_class() -> str:
    """The hidden characters as the inside of a regex character class, from
    the same unicodedata the check uses. Outside the BMP only plane 1 and
    plane 14 hold format characters; planes 15 and 16 are private use."""
    runs = [
        *_ranges(range(0x10000)),
        *_ranges(range(0x10000, 0x20000)),
        *_ranges(range(0xE0000, 0xE1000)),
        (0xF0000, 0xFFFFD),
        (0x100000, 0x10FFFD),
    ]
    return "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in runs)


#: What pydantic strips around a text (the Unicode White_Space property), as
#: svc_common.openapi spells it for the stripped-length patterns.
_WHITE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _documented(high: int, *, hidden_inside: bool) -> Callable[[dict[str, Any]], None]:
    """The document's pattern of a text checked here, exact both ways: spaces
    around it (stripped), then 1 to `high` characters beginning and ending
    with a visible one, and inside either no hidden character
    (`hidden_inside` False: a name) or anything the front door lets through.
    It replaces minLength/maxLength, which would count the spaces."""

    def schema(s: dict[str, Any]) -> None:
        hidden = _hidden_class()
        edge = f"[^{_WHITE}{hidden}]"
        mid = f"[^{REFUSED}]" if hidden_inside else f"[^{hidden}]"
        s.pop("minLength", None)
        s.pop("maxLength", None)
        s["pattern"] = f"^[{SPACES}]*{edge}(?:{mid}{{0,{high - 2}}}{edge})?[{SPACES}]*$"

    return schema


def _hidden(message: str, message_zh: str) -> ValueError:
    return ValueError(msg(message, message_zh))


def _person(v: str) -> str:
    """A person's name (an officer, an owner), spaces around it stripped by
    the model, checked as inspectors' names are: no character a reader
    cannot see (a zero-width space would make a name look like another, or
    like none), nor a tab or line break."""
    if hidden_characters(v):
        raise _hidden(
            "a name holds an invisible or control character", "姓名中含有不可见字符或控制字符"
        )
    return v


#: A person's name in a request body (交办的承办人, 责任人): 1 to 100 characters
#: once stripped, none of them hidden.
PersonName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra=_documented(100, hidden_inside=False)),
    AfterValidator(_person),
]


def _visible(v: str) -> str:
    """A reason says something: once stripped of spaces it begins and ends
    with a character a reader can see (a reason of zero-width spaces, or one
    trailing a word joiner, says nothing or hides something)."""
    if v and (hidden_characters(v[0]) or hidden_characters(v[-1])):
        raise _hidden(
            "begins or ends with an invisible or control character (or holds nothing visible)",
            "首尾不得为不可见字符或控制字符（或没有可见内容）",
        )
    return v


#: Why a step was taken (不予受理、重新办理的理由): 1 to 500 characters once
#: stripped, beginning and ending with a visible one.
Reason = Annotated[
    str,
    Field(min_length=1, max_length=500, json_schema_extra=_documented(500, hidden_inside=True)),
    AfterValidator(_visible),
]
