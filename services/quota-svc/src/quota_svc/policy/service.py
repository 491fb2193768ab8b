"""Reading and recording district policy (offset ratio, hold days)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.types import utcnow

from quota_svc.airquality import service as aq_service
from quota_svc.airquality.rules import ratio_in_force
from quota_svc.ledger.rules import ratio_to_hundredths
from quota_svc.policy.models import DistrictPolicy
from quota_svc.policy.rules import Policy, Versioned, latest
from quota_svc.pollutants.rules import follows_air_quality
from quota_svc.settings import Settings


def default_policy(settings: Settings) -> Policy:
    return Policy(ratio_to_hundredths(settings.default_offset_ratio), settings.default_hold_days)


async def policy_in_force(
    s: AsyncSession, district: str, pollutant: str, at: dt.datetime, default: Policy
) -> Policy:
    """The ratio and hold period a reservation made at `at` gets: an explicit
    district ratio, else the one the district's air quality calls for (air
    pollutants), else the default (the same rule as the reservation path)."""
    return (await policy_with_source(s, district, pollutant, at, default))[0]


async def policy_with_source(
    s: AsyncSession, district: str, pollutant: str, at: dt.datetime, default: Policy
) -> tuple[Policy, str]:
    rows = await s.scalars(
        select(DistrictPolicy)
        .where(DistrictPolicy.district == district, DistrictPolicy.pollutant == pollutant)
        .order_by(DistrictPolicy.id)
    )
    versions = [
        Versioned(
            r.effective_from,
            Policy(r.offset_ratio_hundredths, r.hold_days),
            bool(r.follows_air_quality),
        )
        for r in rows
    ]
    setting = latest(versions, at)
    aq = await aq_service.status_in_force(s, district, at)
    aq_h = await aq_service.ratio_for_status(s, aq.status) if aq else None
    ratio_h, source = ratio_in_force(
        explicit_h=setting.policy.offset_ratio_hundredths if setting else None,
        follows_air_quality=setting.follows_air_quality if setting else False,
        air_quality_h=aq_h,
        pollutant_follows_air_quality=follows_air_quality(pollutant),
        default_h=default.offset_ratio_hundredths,
    )
    hold_days = setting.policy.hold_days if setting else default.hold_days
    return Policy(ratio_h, hold_days), source


def record_policy(
    s: AsyncSession,
    district: str,
    pollutant: str,
    policy: Policy,
    effective_from: dt.datetime | None,
    set_by: str,
    follows_air_quality: bool = False,
) -> DistrictPolicy:
    now = utcnow()
    row = DistrictPolicy(
        district=district,
        pollutant=pollutant,
        offset_ratio_hundredths=policy.offset_ratio_hundredths,
        hold_days=policy.hold_days,
        effective_from=effective_from or now,
        follows_air_quality=follows_air_quality,
        set_by=set_by,
        recorded_at=now,
    )
    s.add(row)
    return row
