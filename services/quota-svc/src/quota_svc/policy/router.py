"""District settings API: offset ratio and hold days, effective-dated."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import hold_lock
from svc_common.districts import DistrictCode
from svc_common.errors import field_error
from svc_common.service import Runtime, runtime
from svc_common.types import utcnow

from quota_svc.api import READERS, PollutantPath, check_district, check_pollutant
from quota_svc.ledger.rules import hundredths_to_ratio, ratio_to_hundredths
from quota_svc.policy.models import DistrictPolicy
from quota_svc.policy.rules import Policy, is_scheduled, start_of, start_problem
from quota_svc.policy.schemas import PolicyIn, PolicyOut, ScheduledPolicyOut
from quota_svc.policy.service import (
    default_policy,
    policy_with_source,
    record_policy,
    replace_scheduled,
    scheduled_policies,
)
from quota_svc.register import service as register
from quota_svc.settings import Settings

router = APIRouter(prefix="/quota/settings", tags=["settings"])


def _settings(rt: Runtime) -> Settings:
    assert isinstance(rt.settings, Settings)
    return rt.settings


def _scheduled_out(r: DistrictPolicy) -> ScheduledPolicyOut:
    return ScheduledPolicyOut(
        offset_ratio=None
        if r.follows_air_quality
        else hundredths_to_ratio(r.offset_ratio_hundredths),
        hold_days=r.hold_days,
        effective_from=r.effective_from,
        set_by=r.set_by,
        ratio_source="air_quality" if r.follows_air_quality else "explicit",
    )


async def _scheduled(
    s: AsyncSession, district: str, pollutant: str, now: dt.datetime
) -> list[ScheduledPolicyOut]:
    return [_scheduled_out(r) for r in await scheduled_policies(s, district, pollutant, now)]


@router.put("/{district}/{pollutant}", response_model=PolicyOut)
async def set_policy(
    district: DistrictCode,
    pollutant: PollutantPath,
    body: PolicyIn,
    principal: Principal = Depends(require("admin")),
    rt: Runtime = Depends(runtime),
) -> PolicyOut:
    """A new version, from now or a later `effective_from` (never back-dated:
    the versions are the history of what was in force). It replaces any
    version still scheduled for the district and pollutant: the latest
    decision holds. Existing holds keep the ratio they were made with."""
    check_district(district)
    principal.require_district(district)
    check_pollutant(pollutant)
    now = utcnow()
    if problem := start_problem(body.effective_from, now):
        raise field_error("effective_from", problem)
    follows = body.offset_ratio is None
    ratio = body.offset_ratio or _settings(rt).default_offset_ratio
    policy = Policy(ratio_to_hundredths(ratio), body.hold_days)
    async with rt.db.transaction() as s:
        # One setting of a district and pollutant at a time: the second sees
        # (and replaces) what the first scheduled.
        await hold_lock(s, "quota.settings", f"{district}:{pollutant}")
        replaced = await replace_scheduled(s, district, pollutant, now)
        row = record_policy(
            s,
            district,
            pollutant,
            policy,
            start_of(body.effective_from, now),
            principal.sub,
            follows,
        )
        withdrawn = [
            {
                "offset_ratio": None
                if r.follows_air_quality
                else str(hundredths_to_ratio(r.offset_ratio_hundredths)),
                "hold_days": r.hold_days,
                "effective_from": r.effective_from.isoformat(),
                "set_by": r.set_by,
            }
            for r in replaced
        ]
        record_audit(
            s,
            principal,
            "quota.settings.set",
            "district_settings",
            f"{district}:{pollutant}",
            {
                "offset_ratio": None if follows else str(ratio),
                "hold_days": body.hold_days,
                "effective_from": row.effective_from.isoformat(),
                "replaced_scheduled": withdrawn,
            },
        )
        register.record(
            s,
            "ratio_setting",
            district=district,
            pollutant=pollutant,
            ratio="air_quality" if follows else str(ratio),
            effective_from=row.effective_from.isoformat(),
            # The scheduled versions this one withdrew (never in force).
            replaces_scheduled=",".join(r.effective_from.isoformat() for r in replaced) or None,
        )
        await s.flush()
        scheduled = await _scheduled(s, district, pollutant, now)
    return PolicyOut(
        district=district,
        pollutant=pollutant,
        offset_ratio=ratio,
        hold_days=body.hold_days,
        effective_from=row.effective_from,
        set_by=principal.sub,
        ratio_source="air_quality" if follows else "explicit",
        in_force=not is_scheduled(row.effective_from, now),
        scheduled=scheduled,
    )


@router.get("/{district}/{pollutant}", response_model=PolicyOut)
async def get_policy(
    district: DistrictCode,
    pollutant: PollutantPath,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> PolicyOut:
    """The setting in force now (the service default if none was set), and
    the one scheduled to follow it, if any."""
    check_district(district)
    check_pollutant(pollutant)
    principal.require_district(district)
    now = utcnow()
    async with rt.db.session() as s:
        policy, source = await policy_with_source(
            s, district, pollutant, now, default_policy(_settings(rt))
        )
        row = await s.scalar(
            select(DistrictPolicy)
            .where(
                DistrictPolicy.district == district,
                DistrictPolicy.pollutant == pollutant,
                DistrictPolicy.effective_from <= now,
            )
            .order_by(DistrictPolicy.effective_from.desc(), DistrictPolicy.id.desc())
            .limit(1)
        )
        scheduled = await _scheduled(s, district, pollutant, now)
    return PolicyOut(
        district=district,
        pollutant=pollutant,
        offset_ratio=hundredths_to_ratio(policy.offset_ratio_hundredths),
        hold_days=policy.hold_days,
        effective_from=row.effective_from if row else None,
        set_by=row.set_by if row else None,
        ratio_source=source,
        scheduled=scheduled,
    )
