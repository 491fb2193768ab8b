"""Drafting the permit application of an approved EIA filing: one code path
for the event's handler and for a parked filing drafted later (the
classification table gained its code, or an administrator re-drives it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.events.schemas.eia import FilingApproved
from svc_common.events.schemas.permit import EnterpriseRegistered
from svc_common.types import tonnes_to_kg

from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import needs_permit
from permit_svc.enterprises.service import industry_categories, snapshot
from permit_svc.parked import rules
from permit_svc.permits.models import Permit
from permit_svc.permits.rules import IN_FORCE, VOCS
from permit_svc.permits.service import new_permit
from permit_svc.prechecks import service as prechecks

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ApprovedFiling:
    """What drafting needs of an approved filing (from the event or a parked row)."""

    filing_id: str
    uscc: str
    enterprise_name: str
    district: str
    #: The lettered form (the event's schema reads either form as it).
    industry_code: str
    project_ref: str
    vocs_kg: int

    @classmethod
    def of_event(cls, p: FilingApproved) -> ApprovedFiling:
        return cls(
            filing_id=p.filing_id,
            uscc=p.uscc,
            enterprise_name=p.enterprise_name,
            district=p.district,
            industry_code=p.industry_code,
            project_ref=p.project_ref,
            vocs_kg=tonnes_to_kg(p.vocs_increment_t),
        )


@dataclass(frozen=True)
class Drafted:
    """What drafting came to: `parked` (the reason) when it cannot be done
    now; else `permit_id`, the application (the one drafted before, too),
    or None when the industry needs no permit (a registration instead)."""

    parked: rules.ParkReason | None = None
    permit_id: str | None = None


async def draft_application(
    s: AsyncSession,
    f: ApprovedFiling,
    actor: Principal,
    now: dt.datetime,
    via: str,
    owed_from: dt.date | None,
) -> Drafted:
    """The filing's application (申请) carrying the project's approved VOCs
    increment, one per filing: a change application (变更申请) of the
    enterprise's permit in force if it holds one; an enterprise permit-svc does not know is
    created from the filing. `via` names what caused it (the event's type,
    the table's upload, a re-drive), for the audit trail; `owed_from` is the
    app's EXECUTION_REPORTS_OWED_FROM, for the application's prechecks."""
    existing = await s.scalar(select(Permit.id).where(Permit.source_filing_id == f.filing_id))
    if existing is not None:
        return Drafted(permit_id=existing)
    e = await s.get(Enterprise, f.uscc)
    category = None if e else (await industry_categories(s)).get(f.industry_code)
    if reason := rules.park_reason(e is not None, category):
        return Drafted(parked=reason)
    if e is None:
        assert category is not None
        e = Enterprise(
            uscc=f.uscc,
            name=f.enterprise_name,
            district=f.district,
            industry_code=f.industry_code,
            category=category,
            address="",
            operating_status="operating",
            created_at=now,
            updated_at=now,
        )
        s.add(e)
        record_audit(s, actor, "enterprise.create", "enterprise", e.uscc, {"from": via})
        outbox.emit(s, EnterpriseRegistered(**snapshot(e)))
    if not needs_permit(e.category):
        return Drafted()  # registration management: the enterprise files a registration itself
    # An enterprise holding a permit in force expands (改扩建): the draft is a
    # change application (变更申请) of that permit, carrying the increment.
    in_force = await s.scalar(
        select(Permit.id)
        .where(Permit.uscc == e.uscc, Permit.status.in_(IN_FORCE))
        .order_by(Permit.created_at, Permit.id)
        .limit(1)
    )
    p = new_permit(
        e,
        {VOCS: f.vocs_kg} if f.vocs_kg else {},
        now,
        project_ref=f.project_ref,
        source_filing_id=f.filing_id,
        changes_permit_id=in_force,
    )
    await prechecks.stamp(s, p, e, now, owed_from)
    s.add(p)
    record_audit(
        s,
        actor,
        "permit.apply",
        "permit",
        p.id,
        {
            "filing_id": f.filing_id,
            "project_ref": f.project_ref,
            "vocs_kg": f.vocs_kg,
            **({"changes_permit_id": in_force} if in_force else {}),
        },
    )
    if e.district != f.district:
        # The draft is the enterprise's, in its district; the project's quota
        # was allocated from the filing's district's pool, which backs no
        # permit of an enterprise elsewhere: as it stands this draft cannot
        # be issued. Drafted all the same, and said, for an officer to see why.
        details = {
            "filing_id": f.filing_id,
            "project_ref": f.project_ref,
            "filing_district": f.district,
            "enterprise_district": e.district,
        }
        record_audit(s, actor, "permit.draft.other_district", "permit", p.id, details)
        log.warning(
            "approved filing of another district than its enterprise's: the draft lands in "
            "the enterprise's district, which the filing's quota allocation does not back",
            permit_id=p.id,
            uscc=e.uscc,
            **details,
        )
    return Drafted(permit_id=p.id)
