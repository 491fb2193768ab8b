"""Coverage and audit-progress figures, counted in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, select
from svc_common.db import Database

from permit_svc.audits.models import PermitAudit
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import needs_permit
from permit_svc.permits.models import Permit
from permit_svc.registrations.models import Registration
from permit_svc.reports.rules import percent
from permit_svc.reports.schemas import AuditProgressReport, CoverageReport, UncoveredSource

#: How many uncovered sources a report lists by name (the count is always exact).
UNCOVERED_LISTED = 1000


async def coverage(db: Database, districts: list[str] | None, today: dt.date) -> CoverageReport:
    """Fixed sources are the enterprises not closed; a permit counts while issued
    and within its term, a registration while active and within its term.
    Closed enterprises are only counted, as `closed_sources`."""
    has_permit = exists().where(
        Permit.uscc == Enterprise.uscc, Permit.status == "issued", Permit.valid_to >= today
    )
    has_registration = exists().where(
        Registration.uscc == Enterprise.uscc,
        Registration.status == "active",
        Registration.valid_to >= today,
    )
    in_scope = [] if districts is None else [Enterprise.district.in_(districts)]
    where = [*in_scope, Enterprise.operating_status != "closed"]

    def count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    totals = select(
        func.count(),
        count_if(has_permit),
        count_if(has_registration),
        count_if(has_permit | has_registration),
    ).where(*where)
    closed_q = select(func.count()).where(*in_scope, Enterprise.operating_status == "closed")
    uncovered_q = (
        select(Enterprise)
        .where(*where, not_(has_permit), not_(has_registration))
        .order_by(Enterprise.name, Enterprise.uscc)
        .limit(UNCOVERED_LISTED)
    )
    async with db.session() as s:
        known, permits, registrations, covered = (await s.execute(totals)).one()
        closed = int((await s.execute(closed_q)).scalar_one())
        uncovered = list((await s.scalars(uncovered_q)).all())
    return CoverageReport(
        districts=districts,
        as_of=today,
        fixed_sources=known,
        with_valid_permit=permits,
        with_valid_registration=registrations,
        covered=covered,
        uncovered=known - covered,
        coverage_percent=percent(covered, known),
        uncovered_sources=[
            UncoveredSource(
                uscc=e.uscc,
                name=e.name,
                district=e.district,
                industry_code=e.industry_code,
                category=e.category,
                needs="permit" if needs_permit(e.category) else "registration",
            )
            for e in uncovered
        ],
        uncovered_listed=len(uncovered),
        closed_sources=closed,
    )


async def audit_progress(
    db: Database, districts: list[str] | None, today: dt.date
) -> AuditProgressReport:
    """The valid permits of the district's fixed sources, audited or not. The
    population is coverage's `with_valid_permit`: an enterprise's permit is
    counted where the enterprise is registered, and not at all once the
    enterprise is closed (those permits are only counted, as
    `permits_of_closed_sources`, for an officer to cancel)."""
    audited = exists().where(PermitAudit.permit_id == Permit.id)
    is_open = Enterprise.operating_status != "closed"
    where = [Permit.status == "issued", Permit.valid_to >= today]
    if districts is not None:
        where.append(Enterprise.district.in_(districts))

    def count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    q = (
        select(count_if(is_open), count_if(is_open & audited), count_if(not_(is_open)))
        .select_from(Permit)
        .join(Enterprise, Enterprise.uscc == Permit.uscc)
        .where(and_(*where))
    )
    async with db.session() as s:
        total, done, closed = (await s.execute(q)).one()
    return AuditProgressReport(
        districts=districts,
        as_of=today,
        valid_permits=total,
        audited=done,
        not_audited=total - done,
        audited_percent=percent(done, total),
        permits_of_closed_sources=closed,
    )
