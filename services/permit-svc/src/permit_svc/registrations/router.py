"""HTTP API of registrations."""

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
from permit_svc.missing import no_registration
from permit_svc.registrations import importing, queries, service
from permit_svc.registrations.rules import RegistrationStatus
from permit_svc.registrations.schemas import (
    RegistrationCancellation,
    RegistrationChange,
    RegistrationFiling,
    RegistrationOut,
)
from permit_svc.scope import visible_districts
from permit_svc.settings import Settings, get_settings

router = APIRouter(prefix="/permit", tags=["registrations"])
WRITERS = ("officer", "admin")
READERS = ("officer", "admin", "auditor", "investment")


@router.post("/registrations", response_model=RegistrationOut, status_code=201)
async def file_registration(
    body: RegistrationFiling,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> RegistrationOut:
    """File a registration (排污登记): numbered and in force at once, no approval."""
    return await service.file(db, principal, body, settings.registration_term_years, utcnow())


@router.post(
    "/registrations:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(
        max_rows=MAX_ROWS, row_model=RegistrationFiling, error_report=True
    ),
)
async def file_registrations(
    request: Request,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Bulk filing from CSV (UTF-8 or GB18030/GBK), .xlsx or JSON lines (a
    `uscc` per row), with a result per row (svc_common.bulk.BulkReport);
    `?report=xlsx` answers with a spreadsheet of the failing rows and why."""
    rows = await read_upload(request)
    report = await importing.file_many(
        db, principal, rows, settings.registration_term_years, utcnow()
    )
    return report.respond(request, rows, "registrations")


@router.post("/registrations/{registration_id}/change", response_model=RegistrationOut)
async def change_registration(
    registration_id: ResourceId,
    body: RegistrationChange,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> RegistrationOut:
    """Change a registration's details (变更). Beyond the schema: a change
    that changes nothing (the details it already has) is a 422 on
    `details`."""
    return await service.change(db, principal, registration_id, body, utcnow())


@router.post("/registrations/{registration_id}/cancel", response_model=RegistrationOut)
async def cancel_registration(
    registration_id: ResourceId,
    body: RegistrationCancellation,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> RegistrationOut:
    return await service.cancel(db, principal, registration_id, body, utcnow())


@router.get("/registrations/{registration_id}", response_model=RegistrationOut)
async def get_registration(
    registration_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> RegistrationOut:
    r = await queries.get(db, registration_id)
    principal.require_found(no_registration(registration_id), r.district)
    return r


@router.get("/registrations", response_model=Page[RegistrationOut])
async def list_registrations(
    district: DistrictCode | None = None,
    status: RegistrationStatus | None = None,
    uscc: USCC | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[RegistrationOut]:
    return await queries.list_registrations(
        db, visible_districts(principal, district), status, cursor, limit, uscc
    )
