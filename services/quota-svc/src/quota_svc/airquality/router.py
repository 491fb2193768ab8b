"""Air-quality API: a district's status (effective-dated) and the admin-set
status → offset ratio table."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator
from svc_common.audit import record_audit
from svc_common.auth import Principal, require, require_citywide
from svc_common.db import Database, hold_lock
from svc_common.districts import DistrictCode
from svc_common.errors import NotFound, field_error
from svc_common.i18n import msg
from svc_common.service import get_db
from svc_common.types import Ratio, utcnow

from quota_svc.airquality import service
from quota_svc.airquality.models import AirQualityRatio, AirQualityStatus
from quota_svc.airquality.rules import NAMES_ZH, AirQuality
from quota_svc.api import READERS, check_district
from quota_svc.ledger.rules import hundredths_to_ratio, ratio_to_hundredths
from quota_svc.policy.rules import is_scheduled, start_of, start_problem
from quota_svc.policy.schemas import StartTime
from quota_svc.register import service as register

router = APIRouter(prefix="/quota", tags=["air quality"])


class AirQualityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AirQuality
    effective_from: StartTime | None = Field(
        None,
        description="default: now; not in the past (5 minutes' tolerance, taken as now). "
        "A status replaces any still scheduled for the district.",
    )

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError(msg("must carry a time zone", "必须带时区"))
        return v


class ScheduledAirQualityOut(BaseModel):
    """A status recorded to take effect later (not yet in force)."""

    status: str
    status_zh: str
    effective_from: dt.datetime
    set_by: str


class AirQualityOut(BaseModel):
    district: str
    status: str | None
    status_zh: str | None
    effective_from: dt.datetime | None
    offset_ratio: Ratio | None = Field(None, description="the ratio the status calls for")
    #: GET: true (the status in force now). PUT: whether the status just
    #: recorded is in force already, or scheduled (then in `scheduled`).
    in_force: bool = True
    #: Statuses recorded to take effect later, soonest first (a new status
    #: replaces those still scheduled).
    scheduled: list[ScheduledAirQualityOut] = []


def _scheduled_out(r: AirQualityStatus) -> ScheduledAirQualityOut:
    return ScheduledAirQualityOut(
        status=r.status,
        status_zh=NAMES_ZH.get(AirQuality(r.status), r.status),
        effective_from=r.effective_from,
        set_by=r.set_by,
    )


class RatioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offset_ratio: Ratio


class RatioOut(BaseModel):
    status: str
    status_zh: str
    offset_ratio: Ratio
    set_by: str
    set_at: dt.datetime


def _ratio_out(r: AirQualityRatio) -> RatioOut:
    return RatioOut(
        status=r.status,
        status_zh=NAMES_ZH.get(AirQuality(r.status), r.status),
        offset_ratio=hundredths_to_ratio(r.offset_ratio_hundredths),
        set_by=r.set_by,
        set_at=r.set_at,
    )


@router.put("/air-quality/{district}", response_model=AirQualityOut)
async def set_air_quality(
    district: DistrictCode,
    body: AirQualityIn,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> AirQualityOut:
    """The district's air quality from now or a later `effective_from` on
    (never back-dated). It replaces any status still scheduled for the
    district: the latest decision holds. Reservations made from then on get
    the ratio it calls for (unless the district has an explicit ratio);
    holds keep the ratio they were made with."""
    check_district(district)
    principal.require_district(district)
    now = utcnow()
    if problem := start_problem(body.effective_from, now):
        raise field_error("effective_from", problem)
    row = AirQualityStatus(
        district=district,
        status=body.status.value,
        effective_from=start_of(body.effective_from, now),
        set_by=principal.sub,
        recorded_at=now,
    )
    async with db.transaction() as s:
        await hold_lock(s, "quota.air_quality", district)
        replaced = await service.replace_scheduled(s, district, now)
        s.add(row)
        ratio = await service.ratio_for_status(s, row.status)
        record_audit(
            s,
            principal,
            "quota.air_quality.set",
            "district",
            district,
            {
                "status": row.status,
                "effective_from": row.effective_from.isoformat(),
                "replaced_scheduled": [
                    {
                        "status": r.status,
                        "effective_from": r.effective_from.isoformat(),
                        "set_by": r.set_by,
                    }
                    for r in replaced
                ],
            },
        )
        register.record(
            s,
            "air_quality",
            district=district,
            pollutant=None,
            status=row.status,
            effective_from=row.effective_from.isoformat(),
            # The scheduled statuses this one withdrew (never in force).
            replaces_scheduled=",".join(r.effective_from.isoformat() for r in replaced) or None,
        )
        await s.flush()
        scheduled = [_scheduled_out(r) for r in await service.scheduled_statuses(s, district, now)]
    return AirQualityOut(
        district=district,
        status=row.status,
        status_zh=NAMES_ZH[body.status],
        effective_from=row.effective_from,
        offset_ratio=hundredths_to_ratio(ratio) if ratio else None,
        in_force=not is_scheduled(row.effective_from, now),
        scheduled=scheduled,
    )


@router.get("/air-quality/{district}", response_model=AirQualityOut)
async def get_air_quality(
    district: DistrictCode,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> AirQualityOut:
    check_district(district)
    principal.require_district(district)
    now = utcnow()
    async with db.session() as s:
        row = await service.status_in_force(s, district, now)
        ratio = await service.ratio_for_status(s, row.status) if row else None
        scheduled = [_scheduled_out(r) for r in await service.scheduled_statuses(s, district, now)]
    return AirQualityOut(
        district=district,
        status=row.status if row else None,
        status_zh=NAMES_ZH.get(AirQuality(row.status)) if row else None,
        effective_from=row.effective_from if row else None,
        offset_ratio=hundredths_to_ratio(ratio) if ratio else None,
        scheduled=scheduled,
    )


@router.get("/air-quality-ratios", response_model=list[RatioOut])
async def list_ratios(
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> list[RatioOut]:
    async with db.session() as s:
        return [_ratio_out(r) for r in await service.ratio_table(s)]


@router.put("/air-quality-ratios/{status}", response_model=RatioOut)
async def set_ratio(
    status: AirQuality,
    body: RatioIn,
    principal: Principal = Depends(require_citywide("admin")),
    db: Database = Depends(get_db),
) -> RatioOut:
    """The offset ratio an air-quality status calls for (citywide)."""
    async with db.transaction() as s:
        row = await s.get(AirQualityRatio, status.value, with_for_update=True)
        if row is None:
            raise NotFound(msg(f"no status {status.value}", f"没有空气质量状况 {status.value}"))
        row.offset_ratio_hundredths = ratio_to_hundredths(body.offset_ratio)
        row.set_by, row.set_at = principal.sub, utcnow()
        record_audit(
            s,
            principal,
            "quota.air_quality_ratio.set",
            "air_quality_ratio",
            status.value,
            {"offset_ratio": str(body.offset_ratio)},
        )
        register.record(
            s,
            "ratio_table",
            district=None,
            pollutant=None,
            status=status.value,
            ratio=str(body.offset_ratio),
        )
        out = _ratio_out(row)
    return out
