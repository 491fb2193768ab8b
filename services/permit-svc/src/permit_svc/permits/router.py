"""HTTP API of permits: application, lifecycle steps, queries, import."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from svc_common.auth import Principal, require
from svc_common.bulk import BulkReport
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db
from svc_common.types import ResourceId, utcnow
from svc_common.uploads import upload_openapi
from svc_common.uscc import USCC

from permit_svc.bulk import MAX_ROWS, read_upload
from permit_svc.calendar import local_today
from permit_svc.missing import no_permit
from permit_svc.permits import existing, queries, service
from permit_svc.permits.rules import PermitStatus
from permit_svc.permits.schemas import (
    Cancellation,
    ExistingPermit,
    OptionalReason,
    PermitApplication,
    PermitChange,
    PermitNo,
    PermitOut,
    Reason,
)
from permit_svc.scope import visible_districts
from permit_svc.settings import Settings, get_settings

router = APIRouter(prefix="/permit", tags=["permits"])
WRITERS = ("officer", "admin")
READERS = ("officer", "admin", "auditor", "investment")


@router.post("/permits", response_model=PermitOut, status_code=201)
async def apply(
    body: PermitApplication,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Apply for a permit (申请); it is issued by `…/issue`. An application
    accepted keeps its pre-acceptance checks (`prechecks`, `attention`):
    advisory, for the officer to see before issuing."""
    return await service.apply(db, principal, body, utcnow(), settings.execution_reports_owed_from)


@router.post(
    "/permits:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(
        max_rows=MAX_ROWS, csv=False, row_model=ExistingPermit, error_report=True
    ),
)
async def import_existing(
    request: Request,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> Response:
    """Bring certificates issued before this register onto it (JSON lines), with
    a result per row (svc_common.bulk.BulkReport); `?report=xlsx` answers with a
    spreadsheet of the failing rows and why."""
    rows = await read_upload(request, csv_allowed=False)
    report = await existing.import_permits(db, principal, rows, utcnow())
    return report.respond(request, rows, "permits")


@router.post("/permits/{permit_id}/issue", response_model=PermitOut)
async def issue(
    permit_id: ResourceId,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Issue an applied-for permit (核发): it comes into force. A change
    application (`kind: change`, 变更申请) is approved as a change of the
    permit it changes (核准变更): that permit takes its increments, and it
    ends `merged`, answered naming the permit (`changes_permit_no`)."""
    return await service.issue(db, principal, permit_id, settings, utcnow())


@router.post("/permits/{permit_id}/reject", response_model=PermitOut)
async def reject(
    permit_id: ResourceId,
    body: Reason,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Refuse an application (不予许可) with the reason the applicant is
    given; only an application (`applied`) can be refused."""
    return await service.reject(db, principal, permit_id, body.reason, settings, utcnow())


@router.post("/permits/{permit_id}/change", response_model=PermitOut)
async def change(
    permit_id: ResourceId,
    body: PermitChange,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Change a permit in force (变更), e.g. its permitted amounts."""
    return await service.change(db, principal, permit_id, body, settings, utcnow())


@router.post("/permits/{permit_id}/renew", response_model=PermitOut)
async def renew(
    permit_id: ResourceId,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Renew a permit (延续) for another term."""
    return await service.renew(db, principal, permit_id, settings, utcnow())


@router.post("/permits/{permit_id}/suspend", response_model=PermitOut)
async def suspend(
    permit_id: ResourceId,
    body: Reason,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Suspend a permit (暂扣), e.g. on an enforcement decision."""
    return await service.suspend_reinstate_revoke(
        db, principal, permit_id, "suspend", body.reason, settings, utcnow()
    )


@router.post("/permits/{permit_id}/reinstate", response_model=PermitOut)
async def reinstate(
    permit_id: ResourceId,
    body: OptionalReason,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Reinstate a suspended permit (恢复)."""
    return await service.suspend_reinstate_revoke(
        db, principal, permit_id, "reinstate", body.reason, settings, utcnow()
    )


@router.post("/permits/{permit_id}/revoke", response_model=PermitOut)
async def revoke(
    permit_id: ResourceId,
    body: Reason,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Revoke a permit (撤销): it is no longer in force."""
    return await service.suspend_reinstate_revoke(
        db, principal, permit_id, "revoke", body.reason, settings, utcnow()
    )


@router.post("/permits/{permit_id}/cancel", response_model=PermitOut)
async def cancel(
    permit_id: ResourceId,
    body: Cancellation,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    """Cancel a permit (注销)."""
    return await service.cancel(db, principal, permit_id, body, settings, utcnow())


@router.get("/permits/{permit_id}", response_model=PermitOut)
async def get_permit(
    permit_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PermitOut:
    p = await queries.get(db, permit_id, settings)
    principal.require_found(no_permit(permit_id), p.district)
    return p


@router.get("/permits", response_model=Page[PermitOut])
async def list_permits(
    district: DistrictCode | None = None,
    status: PermitStatus | None = None,
    expiring_within_days: int | None = Query(None, ge=0, le=3650),
    uscc: USCC | None = None,
    permit_no: PermitNo | None = None,
    attention: bool | None = Query(
        None,
        description="true: those whose pre-acceptance checks kept found something "
        "needing attention; false: those whose kept checks found nothing (a permit that "
        "kept none, imported or applied for before, is in neither)",
    ),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Page[PermitOut]:
    """Permits, soonest-expiring first; `expiring_within_days=60` is the renewal reminder list,
    `permit_no` finds the permit of a certificate's number (许可证编号)."""
    return await queries.list_permits(
        db,
        districts=visible_districts(principal, district),
        status=status,
        expiring_within_days=expiring_within_days,
        today=local_today(utcnow()),
        cursor=cursor,
        limit=limit,
        settings=settings,
        uscc=uscc,
        permit_no=permit_no,
        attention=attention,
    )
