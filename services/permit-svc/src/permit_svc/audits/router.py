"""HTTP API of permit quality audits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db
from svc_common.types import Day, ResourceId, utcnow
from svc_common.uscc import USCC

from permit_svc.audits import service
from permit_svc.audits.schemas import AuditIn, AuditOut, Rectification
from permit_svc.calendar import local_today
from permit_svc.scope import visible_districts

router = APIRouter(prefix="/permit", tags=["audits"])
WRITERS = ("officer", "admin")
READERS = ("officer", "admin", "auditor", "investment")


@router.post("/permits/{permit_id}/audits", response_model=AuditOut, status_code=201)
async def record_audit(
    permit_id: ResourceId,
    body: AuditIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> AuditOut:
    """Record a quality audit (许可质量审核): pass, or findings with deadlines."""
    return await service.record(db, principal, permit_id, body, utcnow())


@router.post("/audits/{audit_id}/findings/{finding_id}/rectify", response_model=AuditOut)
async def rectify(
    audit_id: ResourceId,
    finding_id: ResourceId,
    body: Rectification,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> AuditOut:
    """Close a finding as rectified (整改完成)."""
    return await service.rectify(db, principal, audit_id, finding_id, body, utcnow())


@router.get("/audits", response_model=Page[AuditOut])
async def list_audits(
    district: DistrictCode | None = None,
    overdue: bool = False,
    as_of: Day | None = Query(None, description="the day overdue is judged on; default today"),
    uscc: USCC | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[AuditOut]:
    today = as_of or local_today(utcnow())
    return await service.list_audits(
        db, visible_districts(principal, district), overdue, today, cursor, limit, uscc
    )
