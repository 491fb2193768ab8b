"""HTTP API of the district reports."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.service import get_db
from svc_common.types import Day, utcnow

from permit_svc.calendar import local_today
from permit_svc.reports import service
from permit_svc.reports.schemas import AuditProgressReport, CoverageReport
from permit_svc.scope import visible_districts

router = APIRouter(prefix="/permit/reports", tags=["reports"])
READERS = ("officer", "admin", "auditor", "investment")
AS_OF = Query(
    None,
    description=(
        "the day validity is judged on; default today (Beijing time). A past day "
        "counts what the register held at its end: documents entered, audits made "
        "and statuses changed since are left out or read back from the audit trail"
    ),
)


@router.get("/coverage", response_model=CoverageReport)
async def coverage(
    district: DistrictCode | None = None,
    as_of: Day | None = AS_OF,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> CoverageReport:
    """Permit coverage by district: sources that need a permit or registration and have none."""
    now = utcnow()
    day = as_of or local_today(now)
    return await service.coverage(db, visible_districts(principal, district), day, now)


@router.get("/audit-progress", response_model=AuditProgressReport)
async def audit_progress(
    district: DistrictCode | None = None,
    as_of: Day | None = AS_OF,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> AuditProgressReport:
    now = utcnow()
    day = as_of or local_today(now)
    return await service.audit_progress(db, visible_districts(principal, district), day, now)
