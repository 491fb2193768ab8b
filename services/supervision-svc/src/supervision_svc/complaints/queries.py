"""Reads of complaints: one complaint as a caller may see it, lists, the
ranking of clusters, the report of 受理 / 办结 / 办结率."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal
from svc_common.calendar import end_of_day, start_of_day
from svc_common.db import Database, DriverStatement, by_attribute

from supervision_svc.complaints import rules
from supervision_svc.complaints.models import (
    CATEGORIES,
    ComplainantContact,
    Complaint,
    ComplaintCluster,
)
from supervision_svc.complaints.schemas import (
    CategoryFigures,
    ClusterOut,
    ComplaintOut,
    ComplaintReport,
    ContactOut,
)
from supervision_svc.complaints.service import from_e6
from supervision_svc.scope import sees_personal_data


def to_out(
    c: Complaint, now: dt.datetime, contact: ComplainantContact | None = None
) -> ComplaintOut:
    return ComplaintOut(
        id=c.id,
        case_no=c.case_no,
        channel=c.channel,
        received_at=c.received_at,
        district=c.district,
        address=c.address,
        lng=from_e6(c.lng_e6),
        lat=from_e6(c.lat_e6),
        category=c.category,
        description=c.description,
        uscc=c.uscc,
        status=c.status,
        allowed_actions=rules.allowed_actions(c.status),
        first_responsible=c.first_responsible,
        assigned_to=c.assigned_to,
        accept_due=c.accept_due,
        accepted_at=c.accepted_at,
        close_due=c.close_due,
        overdue=rules.is_overdue(c.status, c.accept_due, c.close_due, now),
        rejected_reason=c.rejected_reason,
        reply=c.reply,
        replied_at=c.replied_at,
        closed_at=c.closed_at,
        outcome=c.outcome,
        outcome_note=c.outcome_note,
        reopen_count=c.reopen_count,
        cluster_id=c.cluster_id,
        repeat=c.repeat,
        complainant=None
        if contact is None
        else ContactOut(name=contact.name, phone=contact.phone, wants_reply=contact.wants_reply),
    )


async def contacts_for(
    s: AsyncSession, principal: Principal, complaints: list[Complaint]
) -> dict[str, ComplainantContact]:
    """The personal data the caller may see: only the handling district's officers."""
    ids = [c.id for c in complaints if sees_personal_data(principal, c.district)]
    if not ids:
        return {}
    rows = await s.scalars(
        select(ComplainantContact).where(ComplainantContact.complaint_id.in_(ids))
    )
    return {r.complaint_id: r for r in rows}


_COMPLAINTS = cast(Table, Complaint.__table__)
_CONTACTS = cast(Table, ComplainantContact.__table__)
_BY_ID = DriverStatement(select(_COMPLAINTS).where(_COMPLAINTS.c.id == bindparam("cid")))
_CONTACT = DriverStatement(select(_CONTACTS).where(_CONTACTS.c.complaint_id == bindparam("cid")))


async def find_out(
    db: Database, principal: Principal, complaint_id: str, now: dt.datetime
) -> ComplaintOut | None:
    """A complaint as the caller may read it, or None (not there, or in a
    district it does not act in); its complainant's contact is read only
    for the handling district's officers. One statement each, their columns
    read by attribute (no entity loaded: `by_attribute`)."""
    found = await db.fetch_alone(_BY_ID, {"cid": complaint_id})
    if not found:
        return None
    c = cast(Complaint, by_attribute(found[0]))
    if not principal.may_act_in(c.district):
        return None
    contact = None
    if sees_personal_data(principal, c.district):
        rows = await db.fetch_alone(_CONTACT, {"cid": c.id})
        contact = cast(ComplainantContact, by_attribute(rows[0])) if rows else None
    return to_out(c, now, contact)


async def outs(
    s: AsyncSession, principal: Principal, complaints: list[Complaint], now: dt.datetime
) -> list[ComplaintOut]:
    contacts = await contacts_for(s, principal, complaints)
    return [to_out(c, now, contacts.get(c.id)) for c in complaints]


async def ranked_clusters(
    s: AsyncSession,
    districts: list[str] | None,
    category: str | None,
    include_closed: bool,
    since: dt.datetime,
    now: dt.datetime,
    limit: int,
) -> list[ClusterOut]:
    q = select(ComplaintCluster).where(
        ComplaintCluster.reports > 0, ComplaintCluster.last_received_at >= since
    )
    if districts is not None:
        q = q.where(ComplaintCluster.district.in_(districts))
    if category:
        q = q.where(ComplaintCluster.category == category)
    if not include_closed:
        q = q.where(ComplaintCluster.open_reports > 0)
    rows = (await s.scalars(q.order_by(ComplaintCluster.last_received_at.desc()).limit(5000))).all()
    scored = [
        (rules.attention(k.reports, k.complainants, k.last_received_at, now), k) for k in rows
    ]
    scored.sort(key=lambda x: (-x[0], -x[1].reports, x[1].id))
    return [
        ClusterOut(
            id=k.id,
            district=k.district,
            category=k.category,
            uscc=k.uscc,
            reports=k.reports,
            complainants=k.complainants,
            open_reports=k.open_reports,
            first_received_at=k.first_received_at,
            last_received_at=k.last_received_at,
            attention=score,
            summary=k.summary,
        )
        for score, k in scored[:limit]
    ]


def _count(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def complaint_report(
    s: AsyncSession,
    districts: list[str] | None,
    district: str | None,
    start: dt.date,
    end: dt.date,
) -> ComplaintReport:
    """Received: received in the period. Accepted (有效投诉): accepted in the
    period. Closed (办结): of those, closed now. Overdue: of those received,
    ever past a statutory clock. Repeated: received in the period and joining
    an earlier complaint's cluster."""
    lo, hi = start_of_day(start), end_of_day(end)
    received = and_(Complaint.received_at >= lo, Complaint.received_at < hi)
    accepted = and_(
        Complaint.accepted_at.is_not(None), Complaint.accepted_at >= lo, Complaint.accepted_at < hi
    )
    q = select(
        Complaint.category,
        _count(received),
        _count(and_(received, Complaint.status == "rejected")),
        _count(accepted),
        _count(and_(accepted, Complaint.status == "closed")),
        _count(and_(received, Complaint.overdue_at.is_not(None))),
        _count(and_(received, Complaint.repeat.is_(True))),
    ).where(or_(received, accepted))
    if districts is not None:
        q = q.where(Complaint.district.in_(districts))
    rows = {
        r[0]: [int(x) for x in r[1:]] for r in (await s.execute(q.group_by(Complaint.category)))
    }
    totals = [sum(v[i] for v in rows.values()) for i in range(6)]
    return ComplaintReport(
        district=district,
        from_=start,
        to=end,
        received=totals[0],
        rejected=totals[1],
        accepted=totals[2],
        closed=totals[3],
        closure_rate_percent=rules.closure_rate(totals[3], totals[2]),
        overdue=totals[4],
        repeated=totals[5],
        by_category=[
            CategoryFigures(
                category=cat,
                received=rows[cat][0],
                accepted=rows[cat][2],
                closed=rows[cat][3],
                repeated=rows[cat][5],
            )
            for cat in CATEGORIES
            if cat in rows
        ],
    )
