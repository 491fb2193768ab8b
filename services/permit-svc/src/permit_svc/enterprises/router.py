"""HTTP API of enterprises and the classification table."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from svc_common.auth import Principal, require
from svc_common.bulk import BulkReport
from svc_common.db import Database
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from svc_common.service import get_db
from svc_common.types import utcnow
from svc_common.uploads import decode_text

from permit_svc.bulk import read_upload
from permit_svc.enterprises import importing, service
from permit_svc.enterprises.rules import Category
from permit_svc.enterprises.schemas import (
    EnterpriseChange,
    EnterpriseIn,
    EnterpriseOut,
    IndustryOut,
)
from permit_svc.scope import visible_districts

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
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_industries(
    request: Request,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> Response:
    """Replace the classification table (CSV: industry_code,name,category), all
    or nothing; each line `created` (a new industry), `updated` (changed) or
    `replayed` (as it was). Enterprises' categories follow at once."""
    text = decode_text(await request.body(), request.headers.get("content-type", ""))
    table = service.parse_industry_table(text)
    report = await service.replace_industries(db, principal, table)
    return report.response()


@router.post("/enterprises", response_model=EnterpriseOut, status_code=201)
async def create_enterprise(
    body: EnterpriseIn,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> EnterpriseOut:
    return await service.create_enterprise(db, principal, body, utcnow())


@router.post("/enterprises:import", response_model=BulkReport)
async def import_enterprises(
    request: Request,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> Response:
    """Bulk upsert by USCC from CSV (text/csv, UTF-8 or GB18030/GBK), an .xlsx
    sheet or JSON lines (application/x-ndjson): each row `created`, `updated`
    or `error` (svc_common.bulk.BulkReport). `?report=xlsx` answers with a
    spreadsheet of the failing rows and why."""
    rows = await read_upload(request)
    report = await importing.import_enterprises(db, principal, rows, utcnow())
    return report.respond(request, rows, "enterprises")


@router.patch("/enterprises/{uscc}", response_model=EnterpriseOut)
async def change_enterprise(
    uscc: str,
    body: EnterpriseChange,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> EnterpriseOut:
    """Change name, address or operating status (closing announces EnterpriseClosed)."""
    return await service.change_enterprise(db, principal, uscc, body, utcnow())


@router.get("/enterprises/{uscc}", response_model=EnterpriseOut)
async def get_enterprise(
    uscc: str,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> EnterpriseOut:
    e = await service.get_enterprise(db, uscc)
    visible_districts(principal, e.district)
    return e


@router.get("/enterprises", response_model=Page[EnterpriseOut])
async def list_enterprises(
    district: str | None = None,
    category: Category | None = None,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[EnterpriseOut]:
    districts = visible_districts(principal, district)
    return await service.list_enterprises(db, districts, category, cursor, limit)
