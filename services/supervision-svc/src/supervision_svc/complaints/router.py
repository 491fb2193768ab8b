"""/supervision/complaints: intake (single and bulk), lifecycle, reads,
clusters ranked by attention, and /supervision/reports/complaints."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from svc_common.answers import answer
from svc_common.auth import Principal, require
from svc_common.bulk import BulkReport
from svc_common.calendar import local_date
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import NotFound
from svc_common.i18n import msg
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_after, keyset_page
from svc_common.service import get_db
from svc_common.types import Day, RecordRef, ResourceId, utcnow
from svc_common.uploads import read_upload, upload_openapi

from supervision_svc.complaints import queries, service
from supervision_svc.complaints.models import Complaint
from supervision_svc.complaints.schemas import (
    ActionIn,
    Category,
    ClusterOut,
    ComplaintAcceptIn,
    ComplaintAssignIn,
    ComplaintCloseIn,
    ComplaintIn,
    ComplaintOut,
    ComplaintReceipt,
    ComplaintRejectIn,
    ComplaintReopenIn,
    ComplaintReplyIn,
    ComplaintReport,
    DuplicateCheck,
    MatchOut,
    Status,
)
from supervision_svc.scope import READERS, WRITERS, district_param, visible_districts
from supervision_svc.settings import Settings, get_settings
from supervision_svc.validation import cursor_position, report_period

router = APIRouter(prefix="/supervision", tags=["complaints"])
#: Intake: officers and the city centre (admin); machine clients of the WeChat
#: and web channels use filer tokens.
INTAKE = ("officer", "admin", "filer")


def _not_found(complaint_id: str) -> NotFound:
    return NotFound(msg(f"no complaint {complaint_id}", f"没有投诉 {complaint_id}"))


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintReceipt,
    openapi_extra={"x-record-key": "/complaint/id"},
)
async def receive_complaint(
    body: ComplaintIn,
    principal: Principal = Depends(require(*INTAKE)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintReceipt:
    """Receive a complaint: a case number, and the duplicate check (earlier
    open complaints about the same problem, and the cluster it joins)."""
    now = utcnow()
    async with db.transaction() as s:
        created = await service.receive(s, principal, body, settings, now)
        (out,) = await queries.outs(s, principal, [created.complaint], now)
    # A channel's machine client (filer) learns whether its complaint is a
    # likely repeat (`repeat`, its cluster and how many reports it holds),
    # never the other complaints it matched (their ids, case numbers,
    # times, similarity): those are the handling officers'.
    shown = [] if principal.role == "filer" else created.matches[:50]
    return ComplaintReceipt(
        complaint=out,
        duplicate_check=DuplicateCheck(
            repeat=bool(created.matches),
            cluster_id=created.complaint.cluster_id,
            cluster_size=created.cluster_size,
            matches=[
                MatchOut(
                    complaint_id=m.earlier.id,
                    case_no=m.earlier.case_no,
                    received_at=m.earlier.received_at,
                    reason=m.reason,
                    text_similarity=round(m.text_similarity, 3),
                    distance_m=None if m.distance_m is None else round(m.distance_m),
                )
                for m in shown
            ],
        ),
    )


@router.post(
    "/complaints:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(max_rows=Settings.model_fields["bulk_max_rows"].default),
)
async def import_complaints(
    request: Request,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Bulk import (text/csv or application/x-ndjson) of complaints with their
    history from the 12369 platform; a result per row (svc_common.bulk.BulkReport)."""
    rows = await read_upload(request, max_rows=settings.bulk_max_rows, drop_empty_cells=True)
    async with db.transaction() as s:
        report = await service.import_complaints(s, principal, rows, settings, utcnow())
    return report.response()


@router.get("/complaints/clusters", response_model=list[ClusterOut])
async def rank_clusters(
    district: DistrictCode | None = None,
    category: Category | None = None,
    include_closed: bool = False,
    limit: int = Query(50, ge=1, le=500),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> list[ClusterOut]:
    """Clusters of the same problem ranked by attention (群众关注度高的问题):
    reports, distinct complainants and recency. Open clusters only unless
    include_closed."""
    now = utcnow()
    since = now - dt.timedelta(days=settings.attention_window_days)
    async with db.session() as s:
        return await queries.ranked_clusters(
            s, visible_districts(principal, district), category, include_closed, since, now, limit
        )


@router.get("/complaints/{complaint_id}", response_model=ComplaintOut)
async def get_complaint(
    complaint_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Response:
    """A complaint; the complainant's contact only for the handling district's officers."""
    out = await queries.find_out(db, principal, complaint_id[:64], utcnow())
    if out is None:
        raise _not_found(complaint_id[:64])
    return answer(ComplaintOut, out)


@router.get("/complaints", response_model=Page[ComplaintOut])
async def list_complaints(
    district: DistrictCode | None = None,
    status: Status | None = None,
    category: Category | None = None,
    overdue: bool = False,
    cluster_id: RecordRef | None = Query(None, max_length=36),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[ComplaintOut]:
    """Oldest first. overdue=true: open complaints past their statutory clock now."""
    now = utcnow()
    q = select(Complaint)
    districts = visible_districts(principal, district)
    if districts is not None:
        q = q.where(Complaint.district.in_(districts))
    if status:
        q = q.where(Complaint.status == status)
    if category:
        q = q.where(Complaint.category == category)
    if cluster_id:
        q = q.where(Complaint.cluster_id == cluster_id)
    if overdue:
        q = q.where(service.overdue_condition(now))
    if cursor:
        q = q.where(keyset_after(cursor_position(cursor), Complaint.created_at, Complaint.id))
    q = q.order_by(Complaint.created_at, Complaint.id).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
        # The contacts of the complaints on the page only, not of the one more.
        contacts = await queries.contacts_for(s, principal, rows[:limit])
    return keyset_page(
        rows,
        limit,
        lambda c: [c.created_at.isoformat(), c.id],
        lambda c: queries.to_out(c, now, contacts.get(c.id)),
    )


# The lifecycle: one route per action, each with the body of exactly what
# the action takes (a field it does not take is a 422 naming it, as is a
# required one missing), by an officer of the district or an admin.


async def _act(
    complaint_id: str, body: ActionIn, principal: Principal, db: Database, settings: Settings
) -> ComplaintOut:
    now = utcnow()
    async with db.transaction() as s:
        c = await service.load_for_update(s, complaint_id[:64])
        if not principal.may_act_in(c.district):
            raise _not_found(c.id)
        await service.act(s, principal, c, body, settings, now)
        (out,) = await queries.outs(s, principal, [c], now)
    return out


@router.post("/complaints/{complaint_id}/accept", response_model=ComplaintOut)
async def accept_complaint(
    complaint_id: ResourceId,
    body: ComplaintAcceptIn | None = None,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintOut:
    """Accept a received complaint (受理): its closing clock starts. No body, or `{}`."""
    return await _act(complaint_id, body or ComplaintAcceptIn(), principal, db, settings)


@router.post("/complaints/{complaint_id}/reject", response_model=ComplaintOut)
async def reject_complaint(
    complaint_id: ResourceId,
    body: ComplaintRejectIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintOut:
    """Reject a received complaint (不予受理), with the reason."""
    return await _act(complaint_id, body, principal, db, settings)


@router.post("/complaints/{complaint_id}/assign", response_model=ComplaintOut)
async def assign_complaint(
    complaint_id: ResourceId,
    body: ComplaintAssignIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintOut:
    """Assign an accepted complaint to an officer (交办), or reassign it."""
    return await _act(complaint_id, body, principal, db, settings)


@router.post("/complaints/{complaint_id}/reply", response_model=ComplaintOut)
async def reply_to_complaint(
    complaint_id: ResourceId,
    body: ComplaintReplyIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintOut:
    """Reply to the complainant (答复); an assigned or replied complaint."""
    return await _act(complaint_id, body, principal, db, settings)


@router.post("/complaints/{complaint_id}/close", response_model=ComplaintOut)
async def close_complaint(
    complaint_id: ResourceId,
    body: ComplaintCloseIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintOut:
    """Close a replied complaint (办结) with its outcome, and a note if any."""
    return await _act(complaint_id, body, principal, db, settings)


@router.post("/complaints/{complaint_id}/reopen", response_model=ComplaintOut)
async def reopen_complaint(
    complaint_id: ResourceId,
    body: ComplaintReopenIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ComplaintOut:
    """Reopen a closed complaint (重新办理), with the reason; a new closing clock."""
    return await _act(complaint_id, body, principal, db, settings)


@router.get("/reports/complaints", response_model=ComplaintReport)
async def complaints_report(
    district: DistrictCode | None = None,
    from_: Day | None = Query(None, alias="from"),
    to: Day | None = None,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> ComplaintReport:
    """Accepted (有效投诉受理), closed (办结), closure rate (办结率, one decimal,
    half up), overdue, repeated reports, by category. Dates are Asia/Shanghai;
    `to` is today and `from` 1 January of `to`'s year unless given (今年以来)."""
    start, end = report_period(from_, to, local_date(utcnow()))
    districts = visible_districts(principal, district)
    async with db.session() as s:
        return await queries.complaint_report(s, districts, district_param(district), start, end)
