"""Reading and recording district policy (offset ratio, hold days)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Label, Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import by_name
from svc_common.types import utcnow

from quota_svc.airquality import service as aq_service
from quota_svc.airquality.models import AirQualityRatio, AirQualityStatus
from quota_svc.airquality.rules import ratio_in_force
from quota_svc.ledger.rules import ratio_to_hundredths
from quota_svc.policy.models import DistrictPolicy
from quota_svc.policy.rules import Policy, Versioned, latest
from quota_svc.pollutants.rules import follows_air_quality
from quota_svc.settings import Settings

_POLICY = cast(Table, DistrictPolicy.__table__)
_AQ = cast(Table, AirQualityStatus.__table__)
_AQ_RATIOS = cast(Table, AirQualityRatio.__table__)

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


async def scheduled_policies(
    s: AsyncSession, district: str, pollutant: str, now: dt.datetime
) -> list[DistrictPolicy]:
    """The versions not yet in force (rules.is_scheduled), soonest first."""
    rows = await s.scalars(
        select(DistrictPolicy)
        .where(
            DistrictPolicy.district == district,
            DistrictPolicy.pollutant == pollutant,
            DistrictPolicy.effective_from > now,
        )
        .order_by(DistrictPolicy.effective_from, DistrictPolicy.id)
    )
    return list(rows)


async def replace_scheduled(
    s: AsyncSession, district: str, pollutant: str, now: dt.datetime
) -> list[DistrictPolicy]:
    """Withdraw the versions still scheduled (never in force, so no history
    of what was in force changes): a new setting replaces them. Returns
    them, for the audit entry and the register."""
    pending = await scheduled_policies(s, district, pollutant, now)
    if pending:
        await s.execute(
            delete(DistrictPolicy).where(DistrictPolicy.id.in_([r.id for r in pending]))
        )
    return pending


def record_policy(
    s: AsyncSession,
    district: str,
    pollutant: str,
    policy: Policy,
    effective_from: dt.datetime,
    set_by: str,
    follows_air_quality: bool = False,
) -> DistrictPolicy:
    """A new version from `effective_from` (rules.start_of: now or later)."""
    now = utcnow()
    row = DistrictPolicy(
        district=district,
        pollutant=pollutant,
        offset_ratio_hundredths=policy.offset_ratio_hundredths,
        hold_days=policy.hold_days,
        effective_from=effective_from,
        follows_air_quality=follows_air_quality,
        set_by=set_by,
        recorded_at=now,
    )
    s.add(row)
    return row


# --- The same rule in SQL -----------------------------------------------------
# A statement that needs the policy beside other rows (the reservation's pool
# lock, availability) reads these columns in its own round trip, then
# `policy_of` applies the rule `policies_with_source` applies to versions.


def _setting_in_force(
    column: ColumnElement[Any], district: ColumnElement[Any], pollutant: ColumnElement[Any]
) -> ColumnElement[Any]:
    """`column` of the district policy in force at :at (policy.rules.latest:
    the latest effective_from not after it, the last recorded on a tie)."""
    return (
        select(column)
        .where(
            _POLICY.c.district == district,
            _POLICY.c.pollutant == pollutant,
            _POLICY.c.effective_from <= bindparam("at"),
        )
        .order_by(_POLICY.c.effective_from.desc(), _POLICY.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _air_quality_ratio(district: ColumnElement[Any]) -> ColumnElement[Any]:
    """The ratio the district's air quality in force at :at calls for (none
    if that status has no ratio). One level of subquery, so `district` may be
    a column of the enclosing statement."""
    ratio = select(_AQ_RATIOS.c.offset_ratio_hundredths).select_from(
        _AQ.outerjoin(_AQ_RATIOS, _AQ_RATIOS.c.status == _AQ.c.status)
    )
    return aq_service.narrow_to_in_force(ratio, district, bindparam("at")).scalar_subquery()


def policy_columns(district: ColumnElement[Any], pollutant: ColumnElement[Any]) -> list[Label[Any]]:
    """The columns `policy_of` reads, for the district and pollutant given
    (bind parameters, or columns of the enclosing statement), at :at."""
    return [
        _setting_in_force(_POLICY.c.offset_ratio_hundredths, district, pollutant).label(
            "policy_ratio_h"
        ),
        _setting_in_force(_POLICY.c.hold_days, district, pollutant).label("policy_hold_days"),
        _setting_in_force(_POLICY.c.follows_air_quality, district, pollutant).label(
            "policy_follows_aq"
        ),
        _air_quality_ratio(district).label("aq_ratio_h"),
    ]


def policy_of(row: Any, pollutant: str, default: Policy) -> Policy:
    """The ratio and hold period from `policy_columns` (a SQLAlchemy row or a
    driver record)."""
    m = by_name(row)
    ratio_h, _ = ratio_in_force(
        explicit_h=m["policy_ratio_h"],
        follows_air_quality=bool(m["policy_follows_aq"]),
        air_quality_h=m["aq_ratio_h"],
        pollutant_follows_air_quality=follows_air_quality(pollutant),
        default_h=default.offset_ratio_hundredths,
    )
    hold = m["policy_hold_days"]
    return Policy(ratio_h, hold if hold is not None else default.hold_days)
