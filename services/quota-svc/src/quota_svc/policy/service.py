"""Reading and recording district policy (offset ratio, hold days)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.types import utcnow

from quota_svc.ledger.rules import ratio_to_hundredths
from quota_svc.policy.models import DistrictPolicy
from quota_svc.policy.rules import Policy, Versioned, in_force
from quota_svc.settings import Settings


def default_policy(settings: Settings) -> Policy:
    return Policy(ratio_to_hundredths(settings.default_offset_ratio), settings.default_hold_days)


async def policy_in_force(
    s: AsyncSession, district: str, pollutant: str, at: dt.datetime, default: Policy
) -> Policy:
    rows = await s.scalars(
        select(DistrictPolicy)
        .where(DistrictPolicy.district == district, DistrictPolicy.pollutant == pollutant)
        .order_by(DistrictPolicy.id)
    )
    versions = [
        Versioned(r.effective_from, Policy(r.offset_ratio_hundredths, r.hold_days)) for r in rows
    ]
    return in_force(versions, at, default)


def record_policy(
    s: AsyncSession,
    district: str,
    pollutant: str,
    policy: Policy,
    effective_from: dt.datetime | None,
    set_by: str,
) -> DistrictPolicy:
    now = utcnow()
    row = DistrictPolicy(
        district=district,
        pollutant=pollutant,
        offset_ratio_hundredths=policy.offset_ratio_hundredths,
        hold_days=policy.hold_days,
        effective_from=effective_from or now,
        set_by=set_by,
        recorded_at=now,
    )
    s.add(row)
    return row
