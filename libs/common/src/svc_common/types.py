"""Column and value types shared by all services.

Pollutant amounts are tonnes per year with at most 3 decimals (one kilogram),
so inside the system they are whole kilograms per year: exact integers, never
floats. The API and events speak tonnes as decimal strings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from sqlalchemy import JSON, BigInteger, ColumnElement, DateTime, Integer, exists, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from svc_common import clock, guard, i18n
from svc_common.calendar import CHINA_STANDARD_TIME

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


class _ListTexts(FunctionElement[Any]):
    """The strings of a JSONType list, one row each (column `value`):
    `json_each` on SQLite, `jsonb_array_elements_text` on PostgreSQL."""

    name = "list_texts"
    inherit_cache = True


@compiles(_ListTexts)
def _list_texts(element: _ListTexts, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_each({compiler.process(element.clauses, **kw)})"


@compiles(_ListTexts, "postgresql")
def _list_texts_pg(element: _ListTexts, compiler: SQLCompiler, **kw: Any) -> str:
    return f"jsonb_array_elements_text({compiler.process(element.clauses, **kw)})"


def list_has_any(column: Any, values: list[str]) -> ColumnElement[bool]:
    """Whether a JSONType column holding a list of strings (an alert's
    districts) holds any of `values`, on either database (none: false)."""
    texts = _ListTexts(column).table_valued("value")
    return exists(select(1).select_from(texts).where(texts.c.value.in_(values)))


#: The amounts the API takes, as patterns exact enough that any string they
#: match is accepted (so a client can check before sending): decimal
#: strings of tonnes, ≤ 3 decimals, within the bounds above.
_DEC3 = r"(\.[0-9]{1,3})?"
TONNES_PATTERN = rf"^(1000000(\.0{{1,3}})?|[0-9]{{1,6}}{_DEC3})$"
#: A fraction of a tonne that is not zero: .001 to .999.
_FRACTION = r"\.(0{0,2}[1-9]|0?[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]?)"
POSITIVE_TONNES_PATTERN = (
    rf"^(1000000(\.0{{1,3}})?|0{{0,5}}[1-9][0-9]{{0,5}}{_DEC3}|0{{1,6}}{_FRACTION})$"
)
#: A signed amount that is not zero (a correction: +/- some tonnes).
NONZERO_SIGNED_PATTERN = "^-?" + POSITIVE_TONNES_PATTERN[1:]
INCREMENT_PATTERN = rf"^(100000(\.0{{1,3}})?|[0-9]{{1,5}}{_DEC3})$"
POSITIVE_INCREMENT_PATTERN = (
    rf"^(100000(\.0{{1,3}})?|0{{0,4}}[1-9][0-9]{{0,4}}{_DEC3}|0{{1,5}}{_FRACTION})$"
)
#: An offset ratio: more than 0, at most 10, ≤ 2 decimals.
RATIO_PATTERN = r"^(10(\.0{1,2})?|[1-9](\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"

#: What an id of a record is written with (a UUID, a number this API gave
#: out, a permit's number): 1–64 characters of A–Z a–z 0–9 _ . : -.
ID_PATTERN = i18n.said_as(
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
    "is not an id this API gives out (letters, digits and _ . : -, a letter or digit first)",
    "不是本接口给出的编号（由字母、数字及 _ . : - 组成，以字母或数字开头）",
)

#: A code an administrator gives a thing (a park's id, a control unit's
#: code): 1–40 letters, digits, - or _.
CODE_PATTERN = i18n.said_as(
    r"^[A-Za-z0-9_-]{1,40}$",
    "must be 1-40 letters, digits, '-' or '_'",
    "须为 1-40 个字母、数字、- 或 _",
)

#: A UUID as text, in either case.
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def uuid_as_given_out(value: Any) -> Any:
    """A UUID as the services give one out and keep it, in lower case: a
    UUID is the same in either case (RFC 9562), and one typed or pasted in
    upper case (a letter, a spreadsheet) was a 404. Any other id is left as
    it is: a permit's number keeps its case."""
    if isinstance(value, str) and len(value) == 36 and _UUID.fullmatch(value):
        return value.lower()
    return value


#: The id of a resource in a path (a UUID or a number this API gave out); a
#: UUID in upper case names the same resource as in lower case.
#: A UUID read as given out (lower case). It goes after a field's pattern:
#: pydantic leaves a pattern given after a before-validator out of the API's
#: document (it still checks it), and a client reading the document would
#: send what is then refused.
AS_GIVEN_OUT = BeforeValidator(uuid_as_given_out)

ResourceId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN), AS_GIVEN_OUT]

#: The id of a record named in a body or a query (the finding a case is on,
#: the plan an inspection is under, the alerts a level change replaces): as
#: in a path (`ResourceId`), a UUID in upper case names the same record. The
#: field keeps its own length: `finding_id: RecordRef = Field(…)`; one that
#: checks the id's pattern is a `RecordId`.
RecordRef = Annotated[str, AS_GIVEN_OUT]

#: A `RecordRef` of the form this API gives ids out in (`ID_PATTERN`).
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN), AS_GIVEN_OUT]

#: A number this API gave out as an id (a 64-bit key), in a path: anything
#: past 64 bits is refused as a 422, never reaches the database.
SerialId = Annotated[int, Path(ge=1, le=2**63 - 1)]

#: A pollutant's name where any may be kept (the quota ledger): letters,
#: digits and . _ - , starting with a letter, at most 20 characters.
POLLUTANT_PATTERN = r"^[A-Za-z][A-Za-z0-9_.\-]{0,19}$"
#: Auto-incrementing 64-bit key on PostgreSQL; SQLite only auto-increments INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def at_least_one_of(*fields: str) -> dict[str, Any]:
    """JSON Schema of a change that must name something to change: one of
    `fields` present and not null (a model's `json_schema_extra`)."""
    return {
        "anyOf": [{"required": [f], "properties": {f: {"not": {"type": "null"}}}} for f in fields]
    }


def when(field: str, values: str | list[str], then: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema rule "if `field` is one of `values`, the object also
    satisfies `then`" (for a model's `json_schema_extra`, combined with allOf)."""
    one_of = [values] if isinstance(values, str) else values
    return {
        "if": {"required": [field], "properties": {field: {"enum": one_of}}},
        "then": then,
    }


#: Shorthands for `when` rules: a list field empty or not, a field given or not.
def empty(field: str) -> dict[str, Any]:
    return {"properties": {field: {"maxItems": 0}}}


def nonempty(field: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"minItems": 1}}}


def given(field: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def absent(field: str) -> dict[str, Any]:
    return {"properties": {field: {"type": "null"}}}


@dataclass(frozen=True)
class DecimalText:
    """Metadata for a decimal written as a string that matches `pattern` (a
    coordinate, a percentage): `Annotated[Decimal, DecimalText(...)]`. The
    pattern is the whole rule, stated in the document, so every string it
    matches is accepted and nothing else is (no JSON numbers: a float cannot
    be trusted with a decimal)."""

    pattern: str
    example: str
    description: str
    #: The rule in Chinese for the Chinese message (the description is the
    #: document's, in English).
    description_zh: str = ""

    def parse(self, value: Any) -> Decimal:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, str) and len(value) <= 40 and re.fullmatch(self.pattern, value):
            return Decimal(value)
        raise ValueError(
            i18n.msg(
                f"must be a decimal written as a string, such as {self.example!r} "
                f"({self.description})",
                f"必须是以字符串书写的十进制数，例如 {self.example!r}"
                f"（{self.description_zh or self.description}）",
            )
        )

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(self.parse, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": self.pattern,
            "description": self.description,
            "examples": [self.example],
        }


@dataclass(frozen=True)
class VisibleText:
    """Metadata of a free text a person writes that must say something (a
    reason for revoking, cancelling or rejecting, a note that is required, a
    title, a name): `Annotated[str, VisibleText(500)]`, or `… | None = None`
    where it may be left out. `min_length` to `max_length` characters (0: an
    empty text too, for a field that always took one), and whatever its
    length, spaces around it aside, it begins and ends with a character a
    reader can see (guard.visible_text_problem, the one check): a text of
    zero-width spaces, word joiners, byte-order marks or other invisible
    characters, blank, or combining marks alone is a 422 naming the field.
    A name (`name`) holds no invisible character anywhere. The value is not
    changed: spaces around it are stripped only where its model strips them.
    The document states the rule as a pattern (guard.visible_text_pattern;
    svc_common.openapi puts the length in it for a model that strips)."""

    max_length: int
    min_length: int = 1
    name: bool = False

    def check(self, value: str) -> str:
        if self.min_length == 0 and not value.strip(guard.WHITE_SPACE):
            return value  # an empty text allowed: blank too, where spaces are kept
        if problem := guard.visible_text_problem(value, name=self.name):
            raise ValueError(problem)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        text = core_schema.str_schema(min_length=self.min_length, max_length=self.max_length)
        return core_schema.no_info_after_validator_function(self.check, text)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(schema)
        out["pattern"] = guard.visible_text_pattern(self.min_length, name=self.name)
        out.setdefault(
            "description",
            "a name: no invisible or control character anywhere (zero-width space or "
            "joiner, word joiner, byte-order mark, soft hyphen, direction marks, "
            "variation selectors)"
            if self.name
            else "text beginning and ending with a visible character, spaces around it aside "
            "(not blank, not only zero-width or other invisible characters)",
        )
        return out


@dataclass(frozen=True)
class NameText(VisibleText):
    """Metadata of a name (an enterprise's, a project's, a park's, a
    person's): `Annotated[str, NameText(200)]`. A `VisibleText` that holds
    no invisible character anywhere (guard.hidden_in_name: zero-width
    spaces and joiners, word joiners, byte-order marks, soft hyphens,
    direction marks, variation selectors), not only at its ends: "天津某化工
    有限公司" with a zero-width space inside looks like the name without it
    and is another. A 422 names the field and the character. Free texts
    (reasons, notes) are `VisibleText`: they may hold an emoji sequence."""

    name: bool = True


@dataclass(frozen=True)
class RefText:
    """Metadata of a reference a person types to name something kept
    elsewhere, matched exactly there: a project's ref (quota-svc's
    reservation and permit-svc's permit give it alike), a trade's contract
    ref (its SHA-256 in the public register). `Annotated[str, RefText(100)]`:
    1 to `max_length` characters, no spaces around it, no invisible
    character anywhere, not beginning with a combining mark
    (guard.ref_text_problem): " P-1" and "P\u200b-1" look like "P-1" and are
    other refs. Spaces inside are kept. A 422 names the field and why.
    `fold_width`: full-width ASCII forms are taken as ASCII (guard.fold_width:
    "Ｐ－９" is "P-9"), for a ref that names one thing however it was typed."""

    max_length: int
    fold_width: bool = False

    def check(self, value: str) -> str:
        if problem := guard.ref_text_problem(value):
            raise ValueError(problem)
        return guard.fold_width(value) if self.fold_width else value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        text = core_schema.str_schema(min_length=1, max_length=self.max_length)
        return core_schema.no_info_after_validator_function(self.check, text)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(schema)
        out["pattern"] = guard.ref_text_pattern()
        return out


#: A project's reference as people type it (quota-svc's reservation, permit-svc's
#: permit): a `RefText` of 100 characters whose full-width ASCII forms are
#: taken as ASCII, so "Ｐ-9" typed with a Chinese IME in full-width mode is
#: the project "P-9", stored and matched so. Case is kept: "p-9" is another.
ProjectRef = Annotated[str, RefText(100, fold_width=True)]

#: What the API descriptions of a project ref say of its forms.
PROJECT_REF_FORMS = (
    "full-width letters, digits and signs (Ｐ－９, as a Chinese input method types them "
    "in full-width mode) are taken as their ASCII forms (P-9) and stored so; letter case "
    "is kept and counts (p-9 is another ref than P-9)"
)


def schema_extra(
    *, not_null: tuple[str, ...] = (), at_least_one: tuple[str, ...] = (), **more: Any
) -> Any:
    """A model's `json_schema_extra`: fields that may be left out but not sent
    as null, a change that must name something, and any further keywords."""

    def apply(schema: dict[str, Any], _cls: Any = None) -> None:
        for name in not_null:
            prop = schema.get("properties", {}).get(name)
            if prop is None or "anyOf" not in prop:
                continue
            options = [o for o in prop.pop("anyOf") if o.get("type") != "null"]
            if len(options) == 1:
                prop.update(options[0])
            else:
                prop["anyOf"] = options
            prop.pop("default", None)
        if at_least_one:
            schema.update(at_least_one_of(*at_least_one))
        schema.update(more)

    return apply


def null_refused(cls: Any, value: Any) -> Any:
    """A field validator for the fields `schema_extra(not_null=...)` names,
    as `field_validator(*names)(null_refused)` in the model: a field left
    out stays as it is; sent as null it is refused, naming the field, as its
    published schema (no null) says."""
    if value is None:
        raise ValueError(i18n.msg("may be left out but not null", "可以不填，但不能为 null"))
    return value


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


#: How a sum is read from an answer or event (`TotalTonnes`): plain decimal
#: digits (ASCII), an optional sign; no exponent, no separators, no spaces.
#: A string, so no float ever carries it.
_AMOUNT = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")


def _not_a_decimal_string(places: int = 3) -> ValueError:
    return ValueError(
        i18n.msg(
            'must be a decimal number written as a string, such as "12.5" '
            f"(ASCII digits, at most {places} decimals, no exponent or separators)",
            f'必须是以字符串书写的十进制数，例如 "12.5"（半角数字，最多 {places} 位小数，'
            "不含指数或分隔符）",
        )
    )


def _finite(d: Decimal) -> Decimal:
    if not d.is_finite():
        raise ValueError(i18n.msg("must be a finite number", "必须是有限数值"))
    return d


def _parse_tonnes(value: Any) -> Decimal:
    """A sum of amounts as answers and events write it: a decimal string such
    as "12.500" (a Decimal comes from the services' own code). JSON numbers
    are refused: the documented type is a string, and a float cannot be
    trusted with it. The amounts a request carries are read by
    `_amount_text`, exactly as their documented patterns say."""
    if isinstance(value, Decimal):
        return _finite(value)
    if isinstance(value, str) and len(value) <= 24 and _AMOUNT.fullmatch(value):
        return Decimal(value)
    raise _not_a_decimal_string()


#: One kilogram in tonnes: the places every amount is exact to.
_THREE_PLACES = Decimal("0.001")


def _fmt3(d: Decimal) -> str:
    """An amount as every answer writes it: three places (one kilogram).
    Formatting to three places rounds as quantize would (half even), in one
    step instead of two: this runs for every amount of every answer."""
    return format(d if isinstance(d, Decimal) else Decimal(d), ".3f")


def _fmt2(d: Decimal) -> str:
    """A ratio as every answer writes it: two places."""
    return format(d if isinstance(d, Decimal) else Decimal(d), ".2f")


def _too_many_places(places: int) -> ValueError:
    if places == 3:
        return ValueError(
            i18n.msg("at most 3 decimals (one kilogram) are allowed", "最多 3 位小数（精确到千克）")
        )
    return ValueError(i18n.msg(f"at most {places} decimals are allowed", f"最多 {places} 位小数"))


def _three_places(d: Decimal) -> None:
    if d.as_tuple().exponent < -3 and d != d.quantize(_THREE_PLACES):  # type: ignore[operator]
        raise _too_many_places(3)


def _too_large() -> ValueError:
    return ValueError(
        i18n.msg(
            f"is implausibly large (over {MAX_TONNES} t/a)", f"数值过大（超过 {MAX_TONNES} 吨/年）"
        )
    )


def _negative() -> ValueError:
    return ValueError(i18n.msg("must not be negative", "不得为负数"))


#: What an amount's text must look like for its reasons to be told apart
#: (a sign, digits, a fraction); its pattern says exactly how many of each.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _amount_text(
    pattern: str, *checks: Callable[[Decimal], Any], places: int = 3
) -> Callable[[Any], Decimal]:
    """The reader of an amount documented by `pattern`: a string is accepted
    exactly when the pattern matches all of it. The published pattern is the
    rule, so a client checking a value against the document is never
    refused, nor let through where the document refuses ("1.0000" has four
    decimals however many of them are zeros; "064319" six digits). A string
    refused is told the most telling reason: not a decimal string, a sign
    where none is allowed, too many decimals, the first of `checks` (the
    type's range checks) that fails, else the pattern itself. A Decimal,
    from the services' own code, is left to the type's checks."""
    exact = re.compile(pattern)
    signed = pattern.startswith("^-?")

    def why_not(value: Any) -> ValueError:
        if not isinstance(value, str) or len(value) > 40 or not _DECIMAL_TEXT.fullmatch(value):
            return _not_a_decimal_string(places)
        if value.startswith("-") and not signed:
            return _negative()
        if len(value.partition(".")[2]) > places:
            return _too_many_places(places)
        d = Decimal(value)
        for check in checks:
            try:
                check(d)
            except ValueError as exc:
                return exc
        mismatch = i18n.msg(f"does not match the pattern {pattern}", f"格式不符合 {pattern}")
        return ValueError(mismatch)

    def parse(value: Any) -> Decimal:
        if isinstance(value, str) and len(value) <= 40 and exact.fullmatch(value):
            return Decimal(value)
        if isinstance(value, Decimal):
            return _finite(value)
        raise why_not(value)

    return parse


def _unsigned_zero(d: Decimal) -> Decimal:
    """Zero without a sign: Decimal keeps "-0", which would be written "-0.000"."""
    return d.copy_abs() if d.is_zero() else d


def _check_tonnes(d: Decimal) -> Decimal:
    if d < 0:
        raise _negative()
    _three_places(d)
    if d > MAX_TONNES:
        raise _too_large()
    return _unsigned_zero(d).quantize(_THREE_PLACES)


#: Tonnes per year in the API and events: a decimal string (TONNES_PATTERN:
#: ≥ 0, at most 3 decimals; never a JSON number); serialised as a string so
#: no float ever carries it.
Tonnes = Annotated[
    Decimal,
    BeforeValidator(_amount_text(TONNES_PATTERN, _check_tonnes)),
    AfterValidator(_check_tonnes),
    PlainSerializer(_fmt3, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": TONNES_PATTERN, "examples": ["12.5"]}),
]


def _check_signed_tonnes(d: Decimal) -> Decimal:
    _three_places(d)
    if abs(d) > MAX_TONNES:
        raise _too_large()
    return _unsigned_zero(d).quantize(_THREE_PLACES)


SIGNED_TONNES_PATTERN = "^-?" + TONNES_PATTERN[1:]

#: A signed amount, e.g. the change of a permitted amount.
SignedTonnes = Annotated[
    Decimal,
    BeforeValidator(_amount_text(SIGNED_TONNES_PATTERN, _check_signed_tonnes)),
    AfterValidator(_check_signed_tonnes),
    PlainSerializer(_fmt3, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": SIGNED_TONNES_PATTERN, "examples": ["-3.2"]}),
]


def _nonzero(d: Decimal) -> Decimal:
    if d == 0:
        raise ValueError(i18n.msg("must not be 0", "不得为 0"))
    return d


#: A signed amount other than zero (e.g. an adjustment).
NonZeroSignedTonnes = Annotated[
    SignedTonnes,
    AfterValidator(_nonzero),
    BeforeValidator(_amount_text(NONZERO_SIGNED_PATTERN, _check_signed_tonnes, _nonzero)),
    WithJsonSchema({"type": "string", "pattern": NONZERO_SIGNED_PATTERN, "examples": ["-3.2"]}),
]


def tonnes_to_kg(t: Decimal) -> int:
    kg = t * KG_PER_TONNE
    if kg != kg.to_integral_value():
        raise ValueError(f"{t} t has more than 3 decimals")
    return int(kg)


def kg_to_tonnes(kg: int) -> Decimal:
    """Whole kilograms as tonnes to three places, exactly (1500 → 1.500):
    moving the decimal point of an integer rounds nothing. Anything but an
    int (a database sum may come back as a Decimal such as 1E+4) goes the
    long way: divided, then rounded to three places."""
    if type(kg) is int:
        return Decimal(kg).scaleb(-3)
    return (Decimal(kg) / KG_PER_TONNE).quantize(_THREE_PLACES)


def scaled_text(n: int, places: int) -> str:
    """An integer count of 10**-places as decimal text with exactly that
    many places (1500, 3 → "1.500"; -5, 2 → "-0.05"), without a Decimal."""
    whole, part = divmod(-n if n < 0 else n, 10**places)
    return f"{'-' if n < 0 else ''}{whole}.{part:0{places}d}"


def kg_text(kg: int) -> str:
    """Whole kilograms as every answer writes tonnes, three places (1500 →
    "1.500"): what `kg_to_tonnes` then the amount types' serializer write,
    straight from the integer, for rows built as plain data (a route's
    list of sixteen districts: nine amounts a row)."""
    return scaled_text(kg, 3) if type(kg) is int else _fmt3(kg_to_tonnes(kg))


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
    BeforeValidator(_amount_text(RATIO_PATTERN, _check_ratio, places=2)),
    AfterValidator(_check_ratio),
    PlainSerializer(
        _fmt2,
        return_type=str,
        when_used="json",
    ),
    WithJsonSchema({"type": "string", "pattern": RATIO_PATTERN, "examples": ["2.00"]}),
]


def _positive(d: Decimal) -> Decimal:
    if d <= 0:
        raise ValueError(i18n.msg("must be greater than 0", "必须大于 0"))
    return d


#: An amount that must be more than zero (a baseline, a project increment…).
PositiveTonnes = Annotated[
    Tonnes,
    AfterValidator(_positive),
    BeforeValidator(_amount_text(POSITIVE_TONNES_PATTERN, _check_tonnes, _positive)),
    WithJsonSchema({"type": "string", "pattern": POSITIVE_TONNES_PATTERN, "examples": ["12.5"]}),
]


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
    BeforeValidator(_amount_text(INCREMENT_PATTERN, _check_tonnes, _check_increment)),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": INCREMENT_PATTERN,
            "description": f"t/a, at most {MAX_INCREMENT_TONNES}",
            "examples": ["2.5"],
        }
    ),
]
PositiveIncrementTonnes = Annotated[
    IncrementTonnes,
    AfterValidator(_positive),
    BeforeValidator(
        _amount_text(POSITIVE_INCREMENT_PATTERN, _check_tonnes, _check_increment, _positive)
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": POSITIVE_INCREMENT_PATTERN,
            "description": f"t/a, more than 0 and at most {MAX_INCREMENT_TONNES}",
            "examples": ["2.5"],
        }
    ),
]


def _check_total(d: Decimal) -> Decimal:
    _three_places(d)
    return _unsigned_zero(d).quantize(_THREE_PLACES)


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


# ASCII digits (re.ASCII): `\d` reads any Unicode digit, so "２０２６-…"
# passed the format and was then called no real date. Up to nine decimals
# of a second, read to the microsecond the services keep (cut, not rounded:
# never a moment later than the one written): .NET writes seven
# ("o" format), Java's Instant nine.
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$",
    re.IGNORECASE | re.ASCII,
)
#: A UTC offset whose '+' a query string decoded as a space.
_PLUS_AS_SPACE = re.compile(r" ((?:[01][0-9]|2[0-3]):[0-5][0-9])$")


def _plus_as_space() -> ValueError:
    """A query string turns an unencoded '+' into a space, so
    ?at=…T09:30:00+08:00 arrives as "…T09:30:00 08:00": say how to write it."""
    return ValueError(
        i18n.msg(
            "its UTC offset's '+' arrived as a space (a URL reads '+' as a space): "
            "write the offset as %2B08:00, e.g. 2026-03-01T09:30:00%2B08:00, "
            "or give the time in UTC with Z, e.g. 2026-03-01T01:30:00Z",
            "时区偏移中的“+”在网址中被读作空格：请将偏移写作 %2B08:00，"
            "例如 2026-03-01T09:30:00%2B08:00，或以 Z 表示 UTC 时间，"
            "例如 2026-03-01T01:30:00Z",
        )
    )


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _parse_aware(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40 and _ISO_DATETIME.match(value.strip()):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError as exc:
            raise ValueError(i18n.msg("is not a real date and time", "不是有效的日期时间")) from exc
    elif (
        isinstance(value, str)
        and len(value) <= 40
        and _ISO_DATETIME.match(_PLUS_AS_SPACE.sub(r"+\1", value.strip()))
    ):
        raise _plus_as_space()
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
            day = dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(i18n.msg("is not a real date", "不是有效的日期")) from exc
        if day in (dt.date.min, dt.date.max):
            # Its start or end in another time zone falls outside the calendar.
            raise ValueError(
                i18n.msg(
                    "must be between 0001-01-02 and 9999-12-30",
                    "须在 0001-01-02 至 9999-12-30 之间",
                )
            )
        return day
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

#: The time of a recorded fact (a complaint received, an inspection made, an
#: alert's period) is in the years 2000–2099 in Beijing time, the years its
#: case numbers carry (`12369-<district>-<year>-…`): older or later is a
#: typing error, and the rules that count working days or look back over a
#: window from such a time stay well inside the calendar. The pattern (real
#: days only, leap days included) states the date as written; the instant is
#: then checked in Beijing time, so `2000-01-01T00:00:00+14:00` (1999-12-31
#: 18:00 in Beijing) is refused as well.
RECORD_YEARS = (2000, 2099)
_RECORD_DAY = (
    r"20[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|20(?:[02468][048]|[13579][26])-02-29"
)
_RECORD_CLOCK = (
    r"[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
RECORD_TIME_PATTERN = rf"^(?:{_RECORD_DAY}){_RECORD_CLOCK}$"
_RECORD_TIME = re.compile(RECORD_TIME_PATTERN)


def _parse_record_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(i18n.msg("must carry its UTC offset", "必须带时区偏移"))
        at = _parse_aware(value)
    elif isinstance(value, str) and _RECORD_TIME.match(value):
        at = _parse_aware(value)
    elif isinstance(value, str) and _RECORD_TIME.match(_PLUS_AS_SPACE.sub(r"+\1", value)):
        raise _plus_as_space()
    else:
        raise ValueError(
            i18n.msg(
                "must be an ISO 8601 date and time with its UTC offset in the years "
                "2000–2099, e.g. 2026-03-01T09:30:00+08:00",
                "必须是 2000–2099 年间带时区偏移的 ISO 8601 日期时间，"
                "例如 2026-03-01T09:30:00+08:00",
            )
        )
    try:
        beijing: dt.datetime | None = at.astimezone(CHINA_STANDARD_TIME)
    except OverflowError:  # the calendar's last hours: past 9999 in Beijing
        beijing = None
    if beijing is None or not RECORD_YEARS[0] <= beijing.year <= RECORD_YEARS[1]:
        shown = "" if beijing is None else beijing.strftime("%Y-%m-%d %H:%M")
        raise ValueError(
            i18n.msg(
                "must be in the years 2000–2099 in Beijing time"
                + (f" (it is {shown} there)" if shown else ""),
                "按北京时间须在 2000–2099 年之间"
                + (f"（该时间为北京时间 {shown}）" if shown else ""),
            )
        )
    return at


#: The time of a recorded fact: RECORD_TIME_PATTERN, in the years
#: RECORD_YEARS in Beijing time; held in UTC.
RecordTime = Annotated[
    dt.datetime,
    BeforeValidator(_parse_record_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": RECORD_TIME_PATTERN,
            "description": "ISO 8601 date and time with its UTC offset, in the years "
            "2000–2099 as written and in Beijing time (UTC+8)",
            "examples": ["2026-03-01T09:30:00+08:00"],
        }
    ),
]

#: A calendar day in the API (a Beijing date where people read it): YYYY-MM-DD only.
Day = Annotated[
    dt.date,
    BeforeValidator(_parse_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": r"^(?!0001-01-01$|9999-12-31$)[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "YYYY-MM-DD, 0001-01-02 to 9999-12-30",
            "examples": ["2026-03-01"],
        }
    ),
]


def _parse_record_day(value: Any) -> dt.date:
    day = _parse_day(value)
    if not RECORD_YEARS[0] <= day.year <= RECORD_YEARS[1]:
        raise ValueError(
            i18n.msg(
                f"must be in the years 2000–2099 (it is {day.isoformat()})",
                f"须在 2000–2099 年之间（给出的是 {day.isoformat()}）",
            )
        )
    return day


#: A day the product keeps (a grading's or a guarantee entry's validity, a
#: policy's first day, a deadline): a `Day` in the years RECORD_YEARS, the
#: years of the times it records (RecordTime) and of its case numbers; older
#: or later is a typing error. A day only read (a report's period, `?on=`)
#: is a `Day`.
RecordDay = Annotated[
    dt.date,
    BeforeValidator(_parse_record_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": rf"^(?:{_RECORD_DAY})$",
            "description": "YYYY-MM-DD in the years 2000–2099",
            "examples": ["2026-03-01"],
        }
    ),
]
