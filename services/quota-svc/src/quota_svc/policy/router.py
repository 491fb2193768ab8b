"""District settings API: offset ratio and hold days, effective-dated."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.districts import DistrictCode
from svc_common.service import Runtime, runtime
from svc_common.types import utcnow

from quota_svc.api import READERS, PollutantPath, check_district, check_pollutant
from quota_svc.ledger.rules import hundredths_to_ratio, ratio_to_hundredths
from quota_svc.policy.models import DistrictPolicy
from quota_svc.policy.rules import Policy
from quota_svc.policy.schemas import PolicyIn, PolicyOut
from quota_svc.policy.service import default_policy, policy_with_source, record_policy
from quota_svc.register import service as register
from quota_svc.settings import Settings

router = APIRouter(prefix="/quota/settings", tags=["settings"])


def _settings(rt: Runtime) -> Settings:
    assert isinstance(rt.settings, Settings)
    return rt.settings


@router.put("/{district}/{pollutant}", response_model=PolicyOut)
async def set_policy(
    district: DistrictCode,
    pollutant: PollutantPath,
    body: PolicyIn,
    principal: Principal = Depends(require("admin")),
    rt: Runtime = Depends(runtime),
) -> PolicyOut:
    """A new version; existing holds keep the ratio they were made with."""
    check_district(district)
    principal.require_district(district)
    check_pollutant(pollutant)
    follows = body.offset_ratio is None
    ratio = body.offset_ratio or _settings(rt).default_offset_ratio
    policy = Policy(ratio_to_hundredths(ratio), body.hold_days)
    async with rt.db.transaction() as s:
        row = record_policy(
            s, district, pollutant, policy, body.effective_from, principal.sub, follows
        )
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
            },
        )
        register.record(
            s,
            "ratio_setting",
            district=district,
            pollutant=pollutant,
            ratio="air_quality" if follows else str(ratio),
            effective_from=row.effective_from.isoformat(),
        )
    return PolicyOut(
        district=district,
        pollutant=pollutant,
        offset_ratio=ratio,
        hold_days=body.hold_days,
        effective_from=row.effective_from,
        set_by=principal.sub,
        ratio_source="air_quality" if follows else "explicit",
    )


@router.get("/{district}/{pollutant}", response_model=PolicyOut)
async def get_policy(
    district: DistrictCode,
    pollutant: PollutantPath,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> PolicyOut:
    """The setting in force now (the service default if none was set)."""
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
    return PolicyOut(
        district=district,
        pollutant=pollutant,
        offset_ratio=hundredths_to_ratio(policy.offset_ratio_hundredths),
        hold_days=policy.hold_days,
        effective_from=row.effective_from if row else None,
        set_by=row.set_by if row else None,
        ratio_source=source,
    )
