"""HTTP API of parked filings: the list an officer or an administrator
watches, and the re-drive an administrator calls once the cause is fixed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.industries import IndustryCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db
from svc_common.types import ResourceId, utcnow

from permit_svc.parked import service
from permit_svc.parked.rules import ParkedState
from permit_svc.parked.schemas import ParkedFilingOut
from permit_svc.scope import visible_districts
from permit_svc.settings import Settings, get_settings

router = APIRouter(prefix="/permit", tags=["parked filings"])


@router.get("/parked-filings", response_model=Page[ParkedFilingOut])
async def list_parked_filings(
    district: DistrictCode | None = None,
    state: ParkedState | None = "waiting",
    industry_code: IndustryCode | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    # Auditors read them as they read the rest of permit-svc (its READERS
    # but investment staff: this is the bureau's own work queue).
    principal: Principal = Depends(require("officer", "admin", "auditor")),
    db: Database = Depends(get_db),
) -> Page[ParkedFilingOut]:
    """Approved EIA filings whose permit application could not be drafted
    (挂起的环评批复), the longest waiting first, each with its reason
    (`industry_unclassified`: a new enterprise whose industry code is not in
    the classification table). Waiting ones by default; `state=drafted` for
    those drafted since."""
    districts = visible_districts(principal, district)
    return await service.list_parked(db, districts, state, industry_code, cursor, limit)


@router.post("/parked-filings/{filing_id}/redrive", response_model=ParkedFilingOut)
async def redrive_parked_filing(
    filing_id: ResourceId,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> ParkedFilingOut:
    """Draft a waiting filing's application now, by the same path as the
    event (重新推动): after the classification table has been given its
    code, or its enterprise registered. 409 with the reason when it still
    cannot be drafted, or is drafted already; safe to repeat."""
    return await service.redrive(
        db, principal, filing_id, utcnow(), settings.execution_reports_owed_from
    )
