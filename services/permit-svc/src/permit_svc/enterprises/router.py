"""HTTP API of enterprises and the classification table."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from svc_common.answers import answer
from svc_common.auth import Principal, require, require_citywide
from svc_common.bulk import BulkReport, gc_paused
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db
from svc_common.types import utcnow
from svc_common.uploads import csv_text, upload_openapi
from svc_common.uscc import USCC

from permit_svc.bulk import MAX_ROWS, read_upload
from permit_svc.enterprises import importing, service
from permit_svc.enterprises.rules import Category
from permit_svc.enterprises.schemas import (
    EnterpriseChange,
    EnterpriseIn,
    EnterpriseOut,
    IndustryOut,
)
from permit_svc.missing import no_enterprise
from permit_svc.scope import visible_districts
from permit_svc.settings import Settings, get_settings

router = APIRouter(prefix="/permit", tags=["enterprises"])
READERS = ("officer", "admin", "auditor", "investment")


@router.get("/industries", response_model=list[IndustryOut])
async def list_industries(
    _: Principal = Depends(require(*READERS)), db: Database = Depends(get_db)
) -> list[IndustryOut]:
    """The classification table: industry code, name and management category."""
    return await service.list_industries(db)


@router.post(
    "/industries:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(
        max_rows=MAX_ROWS,
        ndjson=False,
        xlsx=False,
        per_row=False,
        columns="industry_code, name, category",
    ),
)
async def import_industries(
    request: Request,
    principal: Principal = Depends(require_citywide("admin")),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Replace the classification table (CSV: industry_code,name,category), all
    or nothing; each line `created` (a new industry), `updated` (changed) or
    `replayed` (as it was). Enterprises' categories follow at once."""
    text = csv_text(request.headers.get("content-type", ""), await request.body())
    table = service.parse_industry_table(text)
    report = await service.replace_industries(
        db, principal, table, settings.execution_reports_owed_from
    )
    return report.response()


@router.post("/enterprises", response_model=EnterpriseOut, status_code=201)
async def create_enterprise(
    body: EnterpriseIn,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> EnterpriseOut:
    return await service.create_enterprise(db, principal, body, utcnow())


@router.post(
    "/enterprises:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(max_rows=MAX_ROWS, row_model=EnterpriseIn, error_report=True),
)
async def import_enterprises(
    request: Request,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> Response:
    """Bulk upsert by USCC from CSV (text/csv, UTF-8 or GB18030/GBK), an .xlsx
    sheet or JSON lines (application/x-ndjson): each row `created`, `updated`
    or `error` (svc_common.bulk.BulkReport). `?report=xlsx` answers with a
    spreadsheet of the failing rows and why."""
    with gc_paused():
        rows = await read_upload(request)
        report = await importing.import_enterprises(db, principal, rows, utcnow())
        response = report.respond(request, rows, "enterprises")
        # Freed while the collector is still paused: resumed with the rows
        # alive, its first collection would walk every one of them again.
        del rows, report
    return response


@router.patch("/enterprises/{uscc}", response_model=EnterpriseOut)
async def change_enterprise(
    uscc: USCC,
    body: EnterpriseChange,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> EnterpriseOut:
    """Change name, address or operating status (closing announces EnterpriseClosed)."""
    return await service.change_enterprise(db, principal, uscc, body, utcnow())


@router.get("/enterprises/{uscc}", response_model=EnterpriseOut)
async def get_enterprise(
    uscc: USCC,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Response:
    e = await service.get_enterprise(db, uscc)
    # Another district's enterprise is one not found: a 403 naming its
    # district would tell that the code exists, and where.
    principal.require_found(no_enterprise(uscc), e.district)
    return answer(EnterpriseOut, e)


@router.get("/enterprises", response_model=Page[EnterpriseOut])
async def list_enterprises(
    district: DistrictCode | None = None,
    category: Category | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[EnterpriseOut]:
    districts = visible_districts(principal, district)
    return await service.list_enterprises(db, districts, category, cursor, limit)
