"""Coverage and audit-progress figures, counted in the database.

A report is *as of* a day: what the register held at the end of that day
(Beijing time). Today's (and a later day's) is read from the records as they
stand; a past day's undoes what happened since, as far as the register
keeps it: enterprises and documents entered after the day are left out, a
permit's or registration's status that changed since is read back from the
audit trail, and an audit made after the day is not counted. What the
register does not date (an enterprise's closure, its district or category)
is judged as it is now (docs/permit-svc.md, Reports)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, or_, select
from svc_common.calendar import end_of_day
from svc_common.db import Database
from svc_common.tables import AuditEntry

from permit_svc.audits.models import PermitAudit
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import needs_permit
from permit_svc.permits.models import Permit
from permit_svc.registrations.models import Registration
from permit_svc.reports.rules import (
    PERMIT_ACTIONS_IN_FORCE,
    PERMIT_STATUS_ACTIONS,
    REGISTRATION_ENDING_ACTIONS,
    percent,
)
from permit_svc.reports.schemas import AuditProgressReport, CoverageReport, UncoveredSource

#: How many uncovered sources a report lists by name (the count is always exact).
UNCOVERED_LISTED = 1000


def _permit_in_force(day: dt.date, now: dt.datetime) -> ColumnElement[bool]:
    """A permit counts on `day` when it was on the register by the end of the
    day, `day` is within its unbroken validity (from the first term's start
    to `valid_to`: a permit renewed ahead of its new term stays in force
    through the old one) and it was issued (in force, not suspended) then."""
    end = end_of_day(day)
    on_register = [
        Permit.created_at < end,
        Permit.in_force_from <= day,
        Permit.valid_to >= day,
    ]
    if end > now:  # today or a later day: the status as it stands
        return and_(*on_register, Permit.status == "issued")
    last_step = (
        select(AuditEntry.action)
        .where(
            AuditEntry.target_type == "permit",
            AuditEntry.target_id == Permit.id,
            AuditEntry.action.in_(PERMIT_STATUS_ACTIONS),
            AuditEntry.at < end,
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return and_(
        *on_register,
        or_(
            and_(Permit.updated_at < end, Permit.status == "issued"),
            # Changed since: its status then is its last step before the end
            # of the day; none at all, an imported certificate (entered issued).
            and_(
                Permit.updated_at >= end,
                func.coalesce(last_step, "permit.import").in_(PERMIT_ACTIONS_IN_FORCE),
            ),
        ),
    )


def _registration_in_force(day: dt.date, now: dt.datetime) -> ColumnElement[bool]:
    """A registration counts on `day` when it was filed by the end of the day,
    `day` is within its term, and it was active then: active now, or neither
    cancelled nor expired before the end of the day."""
    end = end_of_day(day)
    filed = [
        Registration.created_at < end,
        Registration.valid_from <= day,
        Registration.valid_to >= day,
    ]
    if end > now:
        return and_(*filed, Registration.status == "active")
    ended = exists().where(
        AuditEntry.target_type == "registration",
        AuditEntry.target_id == Registration.id,
        AuditEntry.action.in_(REGISTRATION_ENDING_ACTIONS),
        AuditEntry.at < end,
    )
    return and_(
        *filed,
        or_(
            Registration.status == "active",
            and_(Registration.updated_at >= end, not_(ended)),
        ),
    )


async def coverage(
    db: Database, districts: list[str] | None, today: dt.date, now: dt.datetime
) -> CoverageReport:
    """Fixed sources are the enterprises on the register by the end of `today`
    and not closed; a permit counts while issued and within its term, a
    registration while active and within its term (see the module's note on
    past days). Closed enterprises are only counted, as `closed_sources`."""
    has_permit = exists().where(Permit.uscc == Enterprise.uscc, _permit_in_force(today, now))
    has_registration = exists().where(
        Registration.uscc == Enterprise.uscc, _registration_in_force(today, now)
    )
    in_scope = [Enterprise.created_at < end_of_day(today)]
    if districts is not None:
        in_scope.append(Enterprise.district.in_(districts))
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
    db: Database, districts: list[str] | None, today: dt.date, now: dt.datetime
) -> AuditProgressReport:
    """The valid permits of the district's fixed sources, audited or not. The
    population is coverage's `with_valid_permit`: an enterprise's permit is
    counted where the enterprise is registered, and not at all once the
    enterprise is closed (those permits are only counted, as
    `permits_of_closed_sources`, for an officer to cancel)."""
    audited = exists().where(
        PermitAudit.permit_id == Permit.id, PermitAudit.audited_at < end_of_day(today)
    )
    is_open = Enterprise.operating_status != "closed"
    where = [_permit_in_force(today, now), Enterprise.created_at < end_of_day(today)]
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
