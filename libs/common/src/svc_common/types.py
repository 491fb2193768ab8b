"""Column and value types shared by all services.

Pollutant amounts are tonnes per year with at most 3 decimals (one kilogram),
so inside the system they are whole kilograms per year: exact integers, never
floats. The API and events speak tonnes as decimal strings.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from svc_common import clock, i18n

KG_PER_TONNE = 1000
#: The largest single amount a request may carry (a baseline, a reclaim, a
#: permitted amount): no district's stock comes near it; more is a typo.
MAX_TONNES = Decimal("1000000")
#: The largest project increment: with the largest offset ratio (MAX_RATIO)
#: its need still fits MAX_TONNES, so every service can state it — the same
#: bound wherever a project is submitted.
MAX_INCREMENT_TONNES = Decimal("100000")
MAX_RATIO = Decimal("10")

JSONType = JSON().with_variant(JSONB(), "postgresql")
#: Auto-incrementing 64-bit key on PostgreSQL; SQLite only auto-increments INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    """Now, from the system's one clock (svc_common.clock)."""
    return clock.now()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes in UTC and returns them aware, on both databases
    (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; times are stored in UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: How an amount is written in the API: plain decimal digits (ASCII), an
#: optional sign where allowed, at most 3 decimals; no exponent, no
#: separators, no spaces. A string, so no float ever carries it.
_AMOUNT = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")


def _parse_tonnes(value: Any) -> Decimal:
    """An amount as the API accepts it: a decimal string such as "12.5" (a
    Decimal comes from the services' own code). JSON numbers are refused:
    the documented type is a string, and a float cannot be trusted with it."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str) and len(value) <= 24 and _AMOUNT.match(value):
        d = Decimal(value)
    else:
        raise ValueError(
            i18n.msg(
                'must be a decimal number written as a string, such as "12.5" '
                "(ASCII digits, at most 3 decimals, no exponent or separators)",
                '必须是以字符串书写的十进制数，例如 "12.5"（半角数字，最多 3 位小数，'
                "不含指数或分隔符）",
            )
        )
    if not d.is_finite():
        raise ValueError(i18n.msg("must be a finite number", "必须是有限数值"))
    return d


def _fmt3(d: Decimal) -> str:
    return format(Decimal(d).quantize(Decimal("0.001")), "f")


def _three_places(d: Decimal) -> None:
    if d.as_tuple().exponent < -3 and d != d.quantize(Decimal("0.001")):  # type: ignore[operator]
        raise ValueError(
            i18n.msg("at most 3 decimals (one kilogram) are allowed", "最多 3 位小数（精确到千克）")
        )


def _too_large() -> ValueError:
    return ValueError(
        i18n.msg(
            f"is implausibly large (over {MAX_TONNES} t/a)", f"数值过大（超过 {MAX_TONNES} 吨/年）"
        )
    )


def _check_tonnes(d: Decimal) -> Decimal:
    if d < 0:
        raise ValueError(i18n.msg("must not be negative", "不得为负数"))
    _three_places(d)
    if d > MAX_TONNES:
        raise _too_large()
    return d.quantize(Decimal("0.001"))


#: Tonnes per year in the API and events: a decimal string or number,
#: ≥ 0, at most 3 decimals; serialised as a string so no float ever carries it.
Tonnes = Annotated[
    Decimal,
    BeforeValidator(_parse_tonnes),
    AfterValidator(_check_tonnes),
    PlainSerializer(_fmt3, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]{1,7}(\.[0-9]{1,3})?$", "examples": ["12.5"]}
    ),
]


def _check_signed_tonnes(d: Decimal) -> Decimal:
    _three_places(d)
    if abs(d) > MAX_TONNES:
        raise _too_large()
    return d.quantize(Decimal("0.001"))


#: A signed amount, e.g. the change of a permitted amount.
SignedTonnes = Annotated[
    Decimal,
    BeforeValidator(_parse_tonnes),
    AfterValidator(_check_signed_tonnes),
    PlainSerializer(_fmt3, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]{1,7}(\.[0-9]{1,3})?$", "examples": ["-3.2"]}
    ),
]


def tonnes_to_kg(t: Decimal) -> int:
    kg = t * KG_PER_TONNE
    if kg != kg.to_integral_value():
        raise ValueError(f"{t} t has more than 3 decimals")
    return int(kg)


def kg_to_tonnes(kg: int) -> Decimal:
    return (Decimal(kg) / KG_PER_TONNE).quantize(Decimal("0.001"))


def _check_ratio(d: Decimal) -> Decimal:
    if d <= 0:
        raise ValueError(i18n.msg("must be greater than 0", "必须大于 0"))
    if d > MAX_RATIO:
        raise ValueError(i18n.msg(f"must be at most {MAX_RATIO}", f"不得大于 {MAX_RATIO}"))
    if d != d.quantize(Decimal("0.01")):
        raise ValueError(i18n.msg("at most 2 decimals are allowed", "最多 2 位小数"))
    return d.quantize(Decimal("0.01"))


#: An offset ratio (倍量削减替代), e.g. 2.0: need = increment × ratio.
Ratio = Annotated[
    Decimal,
    BeforeValidator(_parse_tonnes),
    AfterValidator(_check_ratio),
    PlainSerializer(
        lambda d: format(Decimal(d).quantize(Decimal("0.01")), "f"),
        return_type=str,
        when_used="json",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]{1,2}(\.[0-9]{1,2})?$", "examples": ["2.00"]}
    ),
]


def _positive(d: Decimal) -> Decimal:
    if d <= 0:
        raise ValueError(i18n.msg("must be greater than 0", "必须大于 0"))
    return d


#: An amount that must be more than zero (a baseline, a project increment…).
PositiveTonnes = Annotated[Tonnes, AfterValidator(_positive)]


def _check_increment(d: Decimal) -> Decimal:
    if d > MAX_INCREMENT_TONNES:
        raise ValueError(
            i18n.msg(
                f"a project's increment may be at most {MAX_INCREMENT_TONNES} t/a",
                f"单个项目的增量不得超过 {MAX_INCREMENT_TONNES} 吨/年",
            )
        )
    return d


#: A project's increment of a pollutant (t/a): ≤ MAX_INCREMENT_TONNES everywhere.
IncrementTonnes = Annotated[
    Tonnes,
    AfterValidator(_check_increment),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,6}(\.[0-9]{1,3})?$",
            "description": f"t/a, at most {MAX_INCREMENT_TONNES}",
            "examples": ["2.5"],
        }
    ),
]
PositiveIncrementTonnes = Annotated[IncrementTonnes, AfterValidator(_positive)]


def _check_total(d: Decimal) -> Decimal:
    _three_places(d)
    return d.quantize(Decimal("0.001"))


#: A sum of amounts in an answer or event (a pool's balance, a shortfall):
#: exact like Tonnes, with no cap (many amounts add up past any one's cap).
TotalTonnes = Annotated[
    Decimal,
    BeforeValidator(_parse_tonnes),
    AfterValidator(_check_total),
    PlainSerializer(_fmt3, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,3})?$", "examples": ["12.5"]}
    ),
]


_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_aware(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40 and _ISO_DATETIME.match(value.strip()):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError as exc:
            raise ValueError(i18n.msg("is not a real date and time", "不是有效的日期时间")) from exc
    else:
        raise ValueError(
            i18n.msg(
                "must be an ISO 8601 date and time with its UTC offset, "
                "e.g. 2026-03-01T09:30:00+08:00",
                "必须是带时区偏移的 ISO 8601 日期时间，例如 2026-03-01T09:30:00+08:00",
            )
        )
    if parsed.tzinfo is None:
        raise ValueError(i18n.msg("must carry its UTC offset", "必须带时区偏移"))
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(
            i18n.msg(
                "is outside the years 0001–9999 once converted to UTC",
                "换算为协调世界时后超出 0001–9999 年的范围",
            )
        ) from exc


def _parse_day(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(i18n.msg("is not a real date", "不是有效的日期")) from exc
    raise ValueError(i18n.msg("must be a date as YYYY-MM-DD", "必须是 YYYY-MM-DD 格式的日期"))


#: An instant in the API: strict ISO 8601 with its offset (no bare integers,
#: no naive times), within the calendar once in UTC; held in UTC.
AwareDateTime = Annotated[
    dt.datetime,
    BeforeValidator(_parse_aware),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-03-01T09:30:00+08:00"]}
    ),
]

#: A calendar day in the API (a Beijing date where people read it): YYYY-MM-DD only.
Day = Annotated[
    dt.date,
    BeforeValidator(_parse_day),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-03-01"]}),
]
