"""Reading and recording district policy (offset ratio, hold days)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.types import utcnow

from quota_svc.airquality import service as aq_service
from quota_svc.airquality.rules import ratio_in_force
from quota_svc.ledger.rules import ratio_to_hundredths
from quota_svc.policy.models import DistrictPolicy
from quota_svc.policy.rules import Policy, Versioned, latest
from quota_svc.pollutants.rules import follows_air_quality
from quota_svc.settings import Settings

_POLICY = cast(Table, DistrictPolicy.__table__)

#: Every recorded policy version of the districts, in the order recorded.
_VERSIONS = (
    select(
        _POLICY.c.district,
        _POLICY.c.effective_from,
        _POLICY.c.offset_ratio_hundredths,
        _POLICY.c.hold_days,
        _POLICY.c.follows_air_quality,
    )
    .where(
        _POLICY.c.district.in_(bindparam("districts", expanding=True)),
        _POLICY.c.pollutant == bindparam("pollutant"),
    )
    .order_by(_POLICY.c.id)
)


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
    return (await policies_with_source(s, [district], pollutant, at, default))[district]


async def policies_in_force(
    s: AsyncSession, districts: Sequence[str], pollutant: str, at: dt.datetime, default: Policy
) -> dict[str, Policy]:
    """`policy_in_force` of each district, in two statements however many
    districts there are (availability lists all sixteen)."""
    found = await policies_with_source(s, districts, pollutant, at, default)
    return {d: policy for d, (policy, _source) in found.items()}


async def policies_with_source(
    s: AsyncSession, districts: Sequence[str], pollutant: str, at: dt.datetime, default: Policy
) -> dict[str, tuple[Policy, str]]:
    wanted = sorted(set(districts))
    if not wanted:
        return {}
    versions: dict[str, list[Versioned]] = {d: [] for d in wanted}
    for r in await s.execute(_VERSIONS, {"districts": wanted, "pollutant": pollutant}):
        versions[r.district].append(
            Versioned(
                r.effective_from,
                Policy(r.offset_ratio_hundredths, r.hold_days),
                bool(r.follows_air_quality),
            )
        )
    aq_ratio_h = await aq_service.ratios_in_force(s, wanted, at)
    out: dict[str, tuple[Policy, str]] = {}
    for d in wanted:
        setting = latest(versions[d], at)
        ratio_h, source = ratio_in_force(
            explicit_h=setting.policy.offset_ratio_hundredths if setting else None,
            follows_air_quality=setting.follows_air_quality if setting else False,
            air_quality_h=aq_ratio_h.get(d),
            pollutant_follows_air_quality=follows_air_quality(pollutant),
            default_h=default.offset_ratio_hundredths,
        )
        hold_days = setting.policy.hold_days if setting else default.hold_days
        out[d] = (Policy(ratio_h, hold_days), source)
    return out


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
