"""Request and response bodies of the district-settings API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator
from svc_common.i18n import msg
from svc_common.types import AwareDateTime, Ratio

from quota_svc.policy.rules import MAX_HOLD_DAYS


class PolicyIn(BaseModel):
    """Offset ratio (倍量削减替代) and hold period for new reservations. Without
    `offset_ratio` the district follows its air quality (for air pollutants)."""

    model_config = ConfigDict(extra="forbid")

    offset_ratio: Ratio | None = Field(None, description="explicit ratio; none: by air quality")
    hold_days: int = Field(ge=1, le=MAX_HOLD_DAYS)
    effective_from: AwareDateTime | None = Field(
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
