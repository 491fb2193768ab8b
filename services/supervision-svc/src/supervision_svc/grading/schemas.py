"""API shapes of grades, the guarantee list, per-plant plans and the policy table."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from svc_common.errors import FieldValueError
from svc_common.i18n import msg
from svc_common.types import RecordDay, VisibleText, absent, empty, given, nonempty, when

from supervision_svc.grading.rules import LEVELS, TIERS

Grade = Literal["A", "B", "C", "D", "leading"]
Benchmark = Literal["national", "tianjin", "none"]
Level = Literal["yellow", "orange", "red"]
Tier = Literal["benchmark_national", "benchmark_tianjin", "leading", "A", "B", "C", "D", "ungraded"]
GuaranteeReason = Literal[
    "livelihood", "national_strategy", "international_competition", "major_project"
]


def _check_period(valid_from: dt.date, valid_to: dt.date) -> None:
    if valid_from > valid_to:
        raise FieldValueError(
            "valid_to", msg("valid_from must not be after valid_to", "valid_from 不得晚于 valid_to")
        )
    if (valid_to - valid_from).days > 3660:
        raise FieldValueError(
            "valid_to", msg("a validity of at most ten years", "有效期不得超过十年")
        )


class MeasureSpec(BaseModel):
    """none | reduce (percent) | stop_processes (processes, optional percent
    of emissions they make) | stop."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra={
            "allOf": [
                when("kind", "reduce", given("percent")),
                when("kind", ["none", "stop"], {**absent("percent")}),
                when("kind", "stop_processes", nonempty("processes")),
                when("kind", ["none", "reduce", "stop"], empty("processes")),
            ]
        },
    )

    kind: Literal["none", "reduce", "stop_processes", "stop"]
    percent: int | None = Field(None, ge=1, le=100)
    #: Each a process a reader can see (VisibleText), named once.
    processes: list[Annotated[str, VisibleText(100)]] = Field(
        default_factory=list, max_length=20, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("processes")
    @classmethod
    def _processes(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(msg("a process appears twice", "工序重复"))
        return v

    @model_validator(mode="after")
    def _fields(self) -> MeasureSpec:
        if self.kind == "reduce" and self.percent is None:
            raise FieldValueError("percent", msg("a reduction needs percent", "限产须给出 percent"))
        if self.kind in ("none", "stop") and (self.percent is not None or self.processes):
            raise FieldValueError(
                "percent" if self.percent is not None else "processes",
                msg(
                    f"{self.kind} takes no percent or processes",
                    f"{self.kind} 不带 percent 或 processes",
                ),
            )
        if self.kind == "stop_processes" and not self.processes:
            raise FieldValueError("processes", msg("name the processes to stop", "须列出停产工序"))
        if self.kind != "stop_processes" and self.processes:
            raise FieldValueError(
                "processes", msg("processes belong to stop_processes", "仅 stop_processes 可列工序")
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=False)


class GradeIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    grade: Grade
    benchmark: Benchmark = "none"
    industry: Annotated[str, VisibleText(100)]
    valid_from: RecordDay
    valid_to: RecordDay
    basis: Annotated[str, VisibleText(1000)] = Field(description="评级依据")

    @model_validator(mode="after")
    def _validity(self) -> GradeIn:
        _check_period(self.valid_from, self.valid_to)
        return self


class GradeOut(BaseModel):
    uscc: str
    enterprise_name: str
    district: str
    grade: str
    benchmark: str
    industry: str
    valid_from: dt.date
    valid_to: dt.date
    basis: str
    set_by: str
    set_at: dt.datetime


class GradeHistory(BaseModel):
    uscc: str
    current: GradeOut | None
    history: list[GradeOut]


class GuaranteeIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: GuaranteeReason
    valid_from: RecordDay
    valid_to: RecordDay
    allowed_measure: MeasureSpec
    note: Annotated[str, VisibleText(1000, min_length=0)] | None = None

    @model_validator(mode="after")
    def _validity(self) -> GuaranteeIn:
        _check_period(self.valid_from, self.valid_to)
        return self


class GuaranteeOut(BaseModel):
    uscc: str
    enterprise_name: str
    district: str
    reason: str
    valid_from: dt.date
    valid_to: dt.date
    allowed_measure: dict[str, Any]
    note: str | None
    set_by: str
    set_at: dt.datetime


class PlantPlanIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    level: Level
    measure: MeasureSpec
    note: Annotated[str, VisibleText(1000)]


class PlantPlanOut(BaseModel):
    uscc: str
    level: str
    measure: dict[str, Any]
    note: str
    set_by: str
    set_at: dt.datetime


class PolicyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Level
    tier: Tier
    measure: MeasureSpec


#: The table's rows: one per alert level and tier, in any order.
TABLE_SIZE = len(LEVELS) * len(TIERS)


def _whole_table() -> dict[str, Any]:
    """The table's completeness as JSON Schema, from the levels and tiers the
    check (service.set_policy: rules.missing_rules, a row given twice) reads:
    exactly TABLE_SIZE rows, and a row of each level and tier among them, so
    each once. A client checking a table against the document is then never
    refused for what the document does not say."""
    return {
        "minItems": TABLE_SIZE,
        "maxItems": TABLE_SIZE,
        "allOf": [
            {
                "contains": {
                    "required": ["level", "tier"],
                    "properties": {"level": {"const": lv}, "tier": {"const": t}},
                }
            }
            for t in TIERS
            for lv in LEVELS
        ],
        "description": f"one rule per alert level and tier ({len(LEVELS)} × {len(TIERS)} = "
        f"{TABLE_SIZE}), in any order: a table missing one, or naming one twice, is a 422",
    }


class PolicyIn(BaseModel):
    """A complete table: one rule per alert level and tier (3 × 8)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    effective_from: RecordDay
    # The pydantic bounds stay loose: a short table is refused by the check,
    # naming the rows it misses, rather than by its length alone.
    rules: list[PolicyRule] = Field(
        min_length=1, max_length=TABLE_SIZE, json_schema_extra=_whole_table()
    )
    note: Annotated[str, VisibleText(1000, min_length=0)] | None = None


class PolicyOut(BaseModel):
    effective_from: dt.date
    rules: list[dict[str, Any]]
    note: str | None = Field(
        description="The administrator's note as written; the shipped table's in the "
        "caller's language (Accept-Language: zh-CN by default, en on request)"
    )
    set_by: str
    set_at: dt.datetime
