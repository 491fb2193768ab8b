"""Request and response bodies of the district-settings API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from svc_common.i18n import msg
from svc_common.types import AwareDateTime, Ratio

from quota_svc.policy.rules import MAX_HOLD_DAYS, NOW_TOLERANCE

#: When a district setting (a ratio, an air-quality status) starts: an
#: instant as AwareDateTime reads it, now or later (rules.start_problem,
#: checked against the clock when the request arrives: no schema can say
#: "not in the past", so the description does). Its example is one that
#: stays in the future, so a client trying the document's example is not
#: refused for it.
StartTime = Annotated[
    AwareDateTime,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with its UTC offset; now or later, never in the past "
            f"({int(NOW_TOLERANCE.total_seconds() // 60)} minutes' tolerance, taken as now: "
            "a time earlier than that is a 422)",
            "examples": ["2099-01-01T00:00:00+08:00"],
        }
    ),
]


class PolicyIn(BaseModel):
    """Offset ratio (倍量削减替代) and hold period for new reservations. Without
    `offset_ratio` the district follows its air quality (for air pollutants)."""

    model_config = ConfigDict(extra="forbid")

    offset_ratio: Ratio | None = Field(None, description="explicit ratio; none: by air quality")
    hold_days: int = Field(ge=1, le=MAX_HOLD_DAYS)
    effective_from: StartTime | None = Field(
        None,
        description="default: now; not in the past (5 minutes' tolerance, taken as now). "
        "A setting replaces any still scheduled for the district and pollutant.",
    )

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError(msg("must carry a time zone", "必须带时区"))
        return v


class ScheduledPolicyOut(BaseModel):
    """A setting recorded to take effect later (not yet in force)."""

    offset_ratio: Ratio | None = Field(description="none: by air quality")
    hold_days: int
    effective_from: dt.datetime
    set_by: str
    #: explicit or air_quality
    ratio_source: str


class PolicyOut(BaseModel):
    district: str
    pollutant: str
    offset_ratio: Ratio
    hold_days: int
    effective_from: dt.datetime | None
    set_by: str | None
    #: explicit, air_quality or default
    ratio_source: str = "explicit"
    #: GET: true (the setting in force now). PUT: whether the setting just
    #: recorded is in force already, or scheduled (then in `scheduled`).
    in_force: bool = True
    #: The settings recorded to take effect later, soonest first (a new
    #: setting replaces those still scheduled, so at most one is recorded now).
    scheduled: list[ScheduledPolicyOut] = []
