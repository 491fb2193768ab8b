"""/supervision/cases: enforcement cases (立案查处)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_after, keyset_page
from svc_common.service import get_db
from svc_common.types import ResourceId, utcnow

from supervision_svc.cases import service
from supervision_svc.cases.models import EnforcementCase
from supervision_svc.cases.schemas import CaseIn, CaseOut, CloseIn, DecisionIn
from supervision_svc.scope import READERS, WRITERS, visible_districts
from supervision_svc.validation import cursor_position

router = APIRouter(prefix="/supervision", tags=["cases"])


@router.post("/cases", status_code=201, response_model=CaseOut)
async def propose_case(
    body: CaseIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> CaseOut:
    """Open a case on a finding with its legal basis and proposed measure
    (warning, fine in whole yuan, rectification order, permit suspension).

    Beyond the schema (422 naming the field): `finding_id` must be a
    finding recorded by an inspection in one of the caller's districts;
    `measure.rectify_by` not before today (Beijing time). A finding that
    already has a case or is rectified is a 409."""
    async with db.transaction() as s:
        c = await service.propose(s, principal, body, utcnow())
    return service.to_out(c)


@router.post("/cases/{case_id}/decide", response_model=CaseOut)
async def decide_case(
    case_id: ResourceId,
    body: DecisionIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> CaseOut:
    """Approve or reject the proposal: by another officer than the proposer
    (four eyes). An approved permit suspension is applied by permit-svc. A
    rectification order whose `rectify_by` has passed is not approved (409
    `rectify_by_passed`): it is rejected and proposed again."""
    async with db.transaction() as s:
        c = await service.load_for_update(s, principal, case_id)
        await service.decide(s, principal, c, body, utcnow())
    return service.to_out(c)


@router.post("/cases/{case_id}/close", response_model=CaseOut)
async def close_case(
    case_id: ResourceId,
    body: CloseIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> CaseOut:
    """Close a decided case once the measure is carried out or rectified (整改)."""
    async with db.transaction() as s:
        c = await service.load_for_update(s, principal, case_id)
        await service.close(s, principal, c, body, utcnow())
    return service.to_out(c)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(
    case_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> CaseOut:
    async with db.session() as s:
        c = await s.get(EnforcementCase, case_id[:64])
    return service.to_out(principal.found(c, service.no_case(case_id)))


@router.get("/cases", response_model=Page[CaseOut])
async def list_cases(
    district: DistrictCode | None = None,
    status: Literal["proposed", "decided", "rejected", "closed"] | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[CaseOut]:
    C = EnforcementCase
    q = select(C)
    districts = visible_districts(principal, district)
    if districts is not None:
        q = q.where(C.district.in_(districts))
    if status:
        q = q.where(C.status == status)
    if cursor:
        q = q.where(keyset_after(cursor_position(cursor), C.proposed_at, C.id))
    q = q.order_by(C.proposed_at, C.id).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
    return keyset_page(rows, limit, lambda c: [c.proposed_at.isoformat(), c.id], service.to_out)
