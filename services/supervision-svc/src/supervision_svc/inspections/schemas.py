"""API shapes of inspection plans, inspections and the enforcement report."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from svc_common.districts import DistrictCode
from svc_common.errors import FieldValueError
from svc_common.guard import fold_width, visible_text_problem
from svc_common.i18n import msg
from svc_common.types import DecimalText, RecordRef, RecordTime, VisibleText, empty, nonempty, when

from supervision_svc.inspections.rules import person_key, person_name
from supervision_svc.validation import USCC

Item = Literal[
    "performance_grade", "ledger", "treatment_facilities", "online_monitoring", "permit_compliance"
]
#: A plan's period: a year of 2000–2099 (as every date of the product; ASCII
#: digits), a month, a quarter or a half of it. Typed in full-width forms
#: ("２０２６－Ｑ３", a Chinese IME in full-width mode), it is read as ASCII
#: (guard.fold_width), as permit-svc reads an execution report's period.
PERIOD = re.compile(r"^20[0-9]{2}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$")
#: An inspector's name: the shared rule of a person's name (no character a
#: reader cannot see anywhere), its pattern the check's.
Officer = Annotated[str, VisibleText(100, name=True)]


SharePercent = Annotated[
    Decimal,
    DecimalText(
        r"^(100(\.0{1,2})?|0?[1-9][0-9]?(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$",
        example="10",
        description="a percentage, more than 0 and at most 100, ≤ 2 decimals",
        description_zh="百分比，大于 0、不超过 100，最多 2 位小数",
    ),
]


def _names(v: list[str]) -> list[str]:
    """Inspectors' names in the one form (rules.person_name), each 1 to 100
    characters with none a reader cannot see."""
    names = [person_name(x) for x in v]
    if any(not 1 <= len(x) <= 100 for x in names):
        raise ValueError(
            msg("each inspector is 1 to 100 characters", "每名执法人员为 1 至 100 个字符")
        )
    for x in names:
        if problem := visible_text_problem(x, name=True):
            raise ValueError(problem)
    return names


class PlanIn(BaseModel):
    """A double-random draw: `count` enterprises or `share_percent` of them."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["count"],
                    "properties": {"count": {"type": "integer"}, "share_percent": {"type": "null"}},
                },
                {
                    "required": ["share_percent"],
                    "properties": {"share_percent": {"type": "string"}, "count": {"type": "null"}},
                },
            ]
        },
    )

    district: DistrictCode
    # The pattern is the document's; the check is _period's, which says what a
    # period looks like (Field(pattern=…) answered with the regex itself).
    period: str = Field(
        max_length=10,
        description="2026, 2026-06, 2026-Q3 or 2026-H2 (full-width digits, letters and "
        "dash, as a Chinese input method types them, are read as ASCII)",
        json_schema_extra={"pattern": PERIOD.pattern},
    )
    count: int | None = Field(None, ge=1, le=100_000)
    share_percent: SharePercent | None = Field(None, gt=0, le=100)
    seed: int | None = Field(None, ge=0, le=2**62, description="omit: a fresh one is recorded")
    # Empty, or two people at least (_pool): the document says as much as
    # JSON Schema can; two spellings of one name are told apart by _pool only.
    inspector_pool: list[Officer] = Field(
        default_factory=list,
        max_length=200,
        description="the inspectors the second random draws two from for each enterprise: "
        "none, or at least two different people (names equal but for case, width, hidden "
        "characters or runs of spaces are one person)",
        json_schema_extra={"anyOf": [{"maxItems": 0}, {"minItems": 2}]},
    )

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        v = fold_width(v)
        if not PERIOD.match(v):
            raise ValueError(
                msg(
                    "must be like 2026, 2026-06, 2026-Q3 or 2026-H2, in the years 2000–2099",
                    "格式应如 2026、2026-06、2026-Q3 或 2026-H2，年份在 2000–2099 之间",
                )
            )
        return v

    @field_validator("inspector_pool")
    @classmethod
    def _pool(cls, v: list[str]) -> list[str]:
        # One person once, under the first spelling given: "Zhang San" and
        # "zhang  san" in one pool would be drawn as the two inspectors of
        # an enterprise, a pair the inspection then refuses (双人执法).
        people: dict[str, str] = {}
        for name in _names(v):
            people.setdefault(person_key(name), name)
        names = list(people.values())
        if len(names) == 1:
            # The second random draws two inspectors for each enterprise: a
            # pool of one drew nobody, silently.
            raise ValueError(
                msg(
                    "a pool needs at least two inspectors (two are drawn for each enterprise)",
                    "检查人员库至少需要 2 人（每家企业随机抽取 2 名执法人员）",
                )
            )
        return names

    @model_validator(mode="after")
    def _one_size(self) -> PlanIn:
        if (self.count is None) == (self.share_percent is None):
            raise FieldValueError(
                "count",
                msg("give count or share_percent, not both", "count 与 share_percent 须二选一"),
            )
        return self


class DrawnOut(BaseModel):
    uscc: str
    name: str
    tier: str
    weight: int
    inspectors: list[str]


class TierOut(BaseModel):
    """One tier of a draw: who was eligible (their count and the SHA-256 of
    their USCCs sorted, one a line with a line feed after each), its weight
    and how many were drawn."""

    tier: str
    weight: int
    eligible: int
    drawn: int
    candidates_sha256: str


class PlanOut(BaseModel):
    """A draw with all it read: `seed`, `sample_size`, the candidates by tier
    (`tiers`; each one's USCC, tier and weight at `…/candidates`), the
    `inspector_pool` and the `method`, so anyone can draw it again."""

    id: str
    district: str
    period: str
    method: str = Field(description="the draw's method (rules.DRAW_METHOD)")
    seed: int
    requested_count: int | None
    share_percent: str | None
    population: int = Field(description="candidates: the district's operating enterprises")
    sample_size: int = Field(description="how many were drawn")
    weights: dict[str, int]
    tiers: list[TierOut] = Field(description="high, normal, low")
    inspector_pool: list[str] | None = Field(
        description="the pool of the second random, sorted; null: not kept (a plan before 0004)"
    )
    selection: list[DrawnOut]
    created_by: str
    created_at: dt.datetime


class PlanSummary(BaseModel):
    """A plan in the list: what was asked and how many were drawn, without
    the selection, the candidates or the pool (its own page has them)."""

    id: str
    district: str
    period: str
    method: str
    seed: int
    requested_count: int | None
    share_percent: str | None
    population: int = Field(description="candidates: the district's operating enterprises")
    sample_size: int = Field(description="how many were drawn")
    created_by: str
    created_at: dt.datetime


class CandidateOut(BaseModel):
    uscc: str
    tier: str
    weight: int
    drawn: bool


class PlanCandidates(BaseModel):
    """A page of a plan's candidates in USCC order, the order the draw read
    them; `next_cursor` until the last. All pages in turn give every
    candidate in that order, so each tier's USCCs, taken page by page, hash
    to the tier's `candidates_sha256` (docs/supervision-svc.md)."""

    plan_id: str
    population: int = Field(description="candidates in all pages")
    candidates: list[CandidateOut]
    next_cursor: str | None = None


class FindingIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    description: Annotated[str, VisibleText(1000, min_length=2)]
    severity: Literal["minor", "serious"] = "minor"


class ItemIn(BaseModel):
    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra={
            "allOf": [
                when("result", "problem", nonempty("findings")),
                when("result", ["compliant", "not_checked"], empty("findings")),
            ]
        },
    )

    item: Item
    result: Literal["compliant", "problem", "not_checked"]
    note: Annotated[str, VisibleText(1000, min_length=0)] | None = None
    findings: list[FindingIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _findings(self) -> ItemIn:
        if (self.result == "problem") != bool(self.findings):
            raise FieldValueError(
                "findings",
                msg(
                    "an item with result 'problem' has findings, any other has none",
                    "结果为 problem 的检查项须有问题记录，其他不得有",
                ),
            )
        return self


class InspectionIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    uscc: USCC
    inspected_at: RecordTime
    inspectors: list[Officer] = Field(
        min_length=2, max_length=10, json_schema_extra={"uniqueItems": True}
    )
    items: list[ItemIn] = Field(min_length=1, max_length=5)
    plan_id: RecordRef | None = Field(None, max_length=36)

    @field_validator("inspectors")
    @classmethod
    def _inspectors(cls, v: list[str]) -> list[str]:
        names = _names(v)
        people = {person_key(x) for x in names}
        if len(people) < 2 or len(people) != len(names):
            raise ValueError(
                msg(
                    "at least two different inspectors, each named once",
                    "至少两名不同的执法人员，且每人只列一次",
                )
            )
        return names

    @field_validator("items")
    @classmethod
    def _items(cls, v: list[ItemIn]) -> list[ItemIn]:
        if len({i.item for i in v}) != len(v):
            raise ValueError(msg("each item at most once", "每个检查项只能出现一次"))
        return v


class FindingOut(BaseModel):
    id: str
    item: str
    description: str
    severity: str
    status: str


class InspectionOut(BaseModel):
    id: str
    inspection_no: str
    uscc: str
    enterprise_name: str
    district: str
    inspected_at: dt.datetime
    inspectors: list[str]
    plan_id: str | None
    items: list[dict[str, object]]
    findings: list[FindingOut]


class EnforcementReport(BaseModel):
    """检查企业 / 发现问题 / 立案查处 for a period (Asia/Shanghai dates, inclusive)."""

    district: str | None
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    inspections: int
    enterprises_inspected: int
    problems_found: int
    cases_filed: int
    cases_decided: int
    cases_closed: int
