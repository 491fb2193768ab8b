"""/supervision/demands and /supervision/reports/demands."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from svc_common.auth import Principal, require
from svc_common.bulk import BulkReport
from svc_common.calendar import local_date
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_after, keyset_page
from svc_common.service import get_db
from svc_common.types import ResourceId, VisibleText, utcnow
from svc_common.uploads import read_upload, upload_openapi

from supervision_svc.demands import service
from supervision_svc.demands.models import Demand
from supervision_svc.demands.schemas import DemandIn, DemandOut, DemandReport, ProgressIn
from supervision_svc.scope import READERS, WRITERS, district_param, visible_districts
from supervision_svc.settings import Settings, get_settings
from supervision_svc.validation import cursor_position

router = APIRouter(prefix="/supervision", tags=["demands"])


class DoneIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    note: Annotated[str, VisibleText(2000, min_length=0)] | None = None


@router.post("/demands", status_code=201, response_model=DemandOut)
async def create_demand(
    body: DemandIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> DemandOut:
    """An item of the list of the public's demands (群众诉求清单).

    Beyond the schema (422 naming the field): an item from a complaint
    names in `source_ref` a complaint received or imported here in the
    item's district; `deadline` not before today (Beijing time)."""
    now = utcnow()
    async with db.transaction() as s:
        d = await service.create(s, principal, body, now)
    return service.to_out(d, now)


@router.post(
    "/demands:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(max_rows=Settings.model_fields["bulk_max_rows"].default),
)
async def import_demands(
    request: Request,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Bulk import (CSV or JSON lines) of the list as it stands; a result per
    row (svc_common.bulk.BulkReport)."""
    rows = await read_upload(request, max_rows=settings.bulk_max_rows, drop_empty_cells=True)
    async with db.transaction() as s:
        report = await service.import_demands(s, principal, rows, utcnow())
    return report.response()


@router.patch("/demands/{demand_id}", response_model=DemandOut)
async def record_progress(
    demand_id: ResourceId,
    body: ProgressIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> DemandOut:
    """Progress (办理进展), owner or deadline of an open item."""
    now = utcnow()
    async with db.transaction() as s:
        d = await service.load_for_update(s, principal, demand_id)
        service.progress(s, principal, d, body, now)
    return service.to_out(d, now)


@router.post("/demands/{demand_id}/done", response_model=DemandOut)
async def complete_demand(
    demand_id: ResourceId,
    body: DoneIn | None = None,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> DemandOut:
    """Complete an open item (办结): `done`, at 100 %, with `note` (optional)
    as its last progress note. Done after the end of its deadline's day
    (Beijing time), it keeps when it became overdue.

    A 409 for an item already done; a 404 for one not in the caller's
    districts."""
    now = utcnow()
    async with db.transaction() as s:
        d = await service.load_for_update(s, principal, demand_id)
        service.complete(s, principal, d, body.note if body else None, now)
    return service.to_out(d, now)


@router.get("/demands", response_model=Page[DemandOut])
async def list_demands(
    district: DistrictCode | None = None,
    status: Literal["open", "done"] | None = None,
    overdue: bool = False,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[DemandOut]:
    now = utcnow()
    q = select(Demand)
    districts = visible_districts(principal, district)
    if districts is not None:
        q = q.where(Demand.district.in_(districts))
    if status:
        q = q.where(Demand.status == status)
    if overdue:
        q = q.where(Demand.status == "open", Demand.deadline < local_date(now))
    if cursor:
        q = q.where(keyset_after(cursor_position(cursor), Demand.created_at, Demand.id))
    q = q.order_by(Demand.created_at, Demand.id).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
    return keyset_page(
        rows, limit, lambda d: [d.created_at.isoformat(), d.id], lambda d: service.to_out(d, now)
    )


@router.get("/reports/demands", response_model=DemandReport)
async def demands_report(
    district: DistrictCode | None = None,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> DemandReport:
    """Total / done / in progress (318 / 271 / 47 in the seed) and overdue."""
    districts = visible_districts(principal, district)
    async with db.session() as s:
        return await service.report(s, districts, district_param(district), utcnow())
