"""API shapes of alerts and their measures."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from svc_common.districts import DistrictCode, check_district
from svc_common.errors import FieldValueError
from svc_common.i18n import msg
from svc_common.types import RecordId, RecordTime, Tonnes, TotalTonnes, VisibleText

from supervision_svc.alerts.rules import State

AlertId = RecordId
#: An alert's level (预警级别): 黄色, 橙色, 红色.
Level = Literal["yellow", "orange", "red"]


class AlertIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    level: Level
    districts: list[DistrictCode] = Field(
        min_length=1, max_length=16, json_schema_extra={"uniqueItems": True}
    )
    starts_at: RecordTime = Field(alias="from")
    ends_at: RecordTime = Field(alias="to")
    note: Annotated[str, VisibleText(1000, min_length=0)] | None = None
    #: The alerts in force in these districts during this one's period that it
    #: replaces (a level change, 升级/降级): lifted at its start.
    replaces: list[AlertId] = Field(
        default_factory=list, max_length=16, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("replaces")
    @classmethod
    def _replaces(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(msg("an alert appears twice", "预警重复"))
        return v

    @field_validator("districts")
    @classmethod
    def _districts(cls, v: list[str]) -> list[str]:
        for d in v:
            check_district(d)
        if len(set(v)) != len(v):
            raise ValueError(msg("a district appears twice", "区重复"))
        return sorted(v)

    @model_validator(mode="after")
    def _period(self) -> AlertIn:
        if self.ends_at <= self.starts_at:
            raise FieldValueError("to", msg("'to' must be after 'from'", "to 须晚于 from"))
        if self.ends_at - self.starts_at > dt.timedelta(days=31):
            raise FieldValueError("to", msg("an alert lasts at most 31 days", "预警最长 31 天"))
        return self


class AlertOut(BaseModel):
    id: str
    level: str
    districts: list[str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    note: str | None
    issued_by: str
    issued_at: dt.datetime
    #: The alerts this one replaced (lifted at its start).
    replaces: list[str]
    #: Lifted early (解除预警): when it ended (null: in force to `ends_at`), by
    #: whom, why, and the alert that replaced it if a level change lifted it.
    lifted_at: dt.datetime | None
    lifted_by: str | None
    lift_reason: str | None
    replaced_by: str | None
    #: Its state by the clock when answered (in_force, upcoming, ended,
    #: lifted: alerts.rules.state), the same on every route and in the list.
    state: State


class AlertLift(BaseModel):
    """Lifting an alert early (解除预警)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    #: When it ends: by default now (or its start, if it has not begun).
    at: RecordTime | None = None
    reason: Annotated[str, VisibleText(1000, min_length=0)] | None = None


class EnterpriseMeasure(BaseModel):
    """What one enterprise must do during the alert, and why."""

    uscc: str
    name: str
    district: str
    grade: str | None
    benchmark: str | None
    tier: str
    guarantee: str | None
    plant_plan: bool
    measure: dict[str, Any]
    cut_percent: int
    why: list[str]
    # One permit's amounts (each at most 1,000,000 t/a, as permit-svc's events
    # carry them) and a share of them for at most 31 days: not sums.
    permitted_vocs_t: Tonnes
    permitted_nox_t: Tonnes
    expected_vocs_reduction_t: Tonnes
    expected_nox_reduction_t: Tonnes


class DistrictReduction(BaseModel):
    """A district's enterprises and their summed expected reductions: sums,
    so TotalTonnes (no upper bound; a district's may pass 1,000,000 t)."""

    district: str
    enterprises: int
    expected_vocs_reduction_t: TotalTonnes
    expected_nox_reduction_t: TotalTonnes


class AlertMeasures(BaseModel):
    alert: AlertOut
    policy_effective_from: dt.date
    grades_on: dt.date
    items: list[EnterpriseMeasure]
    districts: list[DistrictReduction]
