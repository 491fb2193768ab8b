"""API shapes of alerts and their measures."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from svc_common.districts import DistrictCode, check_district
from svc_common.errors import FieldValueError
from svc_common.i18n import msg
from svc_common.types import RecordTime, Tonnes, TotalTonnes


class AlertIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    level: Literal["yellow", "orange", "red"]
    districts: list[DistrictCode] = Field(
        min_length=1, max_length=16, json_schema_extra={"uniqueItems": True}
    )
    starts_at: RecordTime = Field(alias="from")
    ends_at: RecordTime = Field(alias="to")
    note: str | None = Field(None, max_length=1000)

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
