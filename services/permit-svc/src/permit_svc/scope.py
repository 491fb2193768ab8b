"""Which districts a caller may see: officers their own, citywide roles all;
and where a record of the audit trail is."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal
from svc_common.districts import DISTRICTS

from permit_svc.enterprises.models import Enterprise
from permit_svc.parked.models import ParkedFiling
from permit_svc.permits.models import Permit
from permit_svc.registrations.models import Registration


def visible_districts(principal: Principal, district: str | None) -> list[str] | None:
    """Districts a list is limited to (None: no limit). Asking for a district
    the caller may not act in is a 403, raised by `require_district` (it
    names the district the caller gave); one record of another district is
    not found (`Principal.require_found`)."""
    if district is not None:
        principal.require_district(district)
        return [district]
    if principal.districts:
        return sorted(principal.districts)
    if principal.may_act_in(next(iter(DISTRICTS))):
        return None
    return []


async def audit_targets(s: AsyncSession, target_id: str) -> dict[str, str]:
    """Where the records whose audit trail is `target_id`'s are, by the
    target type their entries name: a permit, a registration (by id), an
    enterprise (by USCC) or a parked filing (by filing id). Read by the audit trail's route
    (svc_common.audit_router), so that an officer reads the steps of a
    permit of their districts (the console's enterprise page)."""
    found: dict[str, str] = {}
    for kind, district, key in (
        ("permit", Permit.district, Permit.id),
        ("registration", Registration.district, Registration.id),
        ("enterprise", Enterprise.district, Enterprise.uscc),
        ("parked_filing", ParkedFiling.district, ParkedFiling.filing_id),
    ):
        where = await s.scalar(select(district).where(key == target_id))
        if where is not None:
            found[kind] = where
    return found
