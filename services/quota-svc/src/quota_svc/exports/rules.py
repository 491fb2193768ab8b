"""How rows are written to and read back from an export (pure): every value
as text, so CSV and XLSX carry the same thing and nothing is lost (whole
kilograms, ISO 8601 UTC times, JSON for lists)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, Table
from svc_common.guard import lone_surrogate_at, surrogate_problem
from svc_common.i18n import msg
from svc_common.types import UTCDateTime


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


#: What a BIGINT column holds (PostgreSQL's and SQLite's 64-bit integers).
_INT_RANGE = range(-(2**63), 2**63)


def _unreadable(table: Table, column: str, text: str, en: str, zh: str) -> ValueError:
    return ValueError(
        msg(f"{table.name}.{column}: {en}: {text!r}", f"{table.name}.{column}：{zh}：{text!r}")
    )


def from_text(table: Table, column: str, text: str | None) -> Any:
    col = table.c[column]
    t = col.type
    if text is None or text == "":
        if col.nullable:
            return None
        if isinstance(t, UTCDateTime):
            raise _unreadable(table, column, "", "a time is required", "缺少时间")
        return _empty(t)
    if isinstance(t, UTCDateTime):
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _unreadable(
                table, column, text, "not an ISO 8601 time", "不是 ISO 8601 时间"
            ) from None
        if parsed.tzinfo is None:
            raise ValueError(
                msg(
                    f"{table.name}.{column}: time without a UTC offset: {text!r}",
                    f"{table.name}.{column}：时间缺少时区偏移：{text!r}",
                )
            )
        return parsed
    if isinstance(t, Boolean):
        return text.lower() in ("true", "1")
    if isinstance(t, (BigInteger, Integer)) or _is_int(t):
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is None or number not in _INT_RANGE:
            raise _unreadable(table, column, text, "not a whole number", "不是整数")
        return number
    if isinstance(t, JSON) or _is_json(t):
        try:
            value = json.loads(text)
        except ValueError:
            raise _unreadable(table, column, text, "not JSON", "不是 JSON") from None
        if lone_surrogate_at(value) is not None:  # `"\ud800"`: no answer could hold it
            problem = surrogate_problem()
            raise ValueError(
                msg(f"{table.name}.{column}: {problem}", f"{table.name}.{column}：{problem}")
            )
        return value
    return text


def _empty(t: Any) -> Any:
    return "" if not isinstance(t, (BigInteger, Integer)) else 0


def _is_int(t: Any) -> bool:
    impl = getattr(t, "impl", None)
    variants = getattr(t, "_variant_mapping", {})
    return (
        isinstance(impl, (BigInteger, Integer))
        or any(isinstance(v, (BigInteger, Integer)) for v in variants.values())
        or type(t).__name__ in ("BigInteger", "Integer")
    )


def _is_json(t: Any) -> bool:
    variants = getattr(t, "_variant_mapping", {})
    return isinstance(t, JSON) or any(isinstance(v, JSON) for v in variants.values())
