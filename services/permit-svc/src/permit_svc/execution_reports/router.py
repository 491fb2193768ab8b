"""HTTP API of execution reports: filing (and correcting) a report, a
permit's reports, and the missed-report list."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import field_error
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db
from svc_common.types import Day, ResourceId, utcnow

from permit_svc.calendar import local_today
from permit_svc.execution_reports import rules, service
from permit_svc.execution_reports.schemas import (
    ExecutionReportIn,
    ExecutionReportOut,
    MissedReportOut,
)
from permit_svc.scope import visible_districts
from permit_svc.settings import Settings, get_settings

router = APIRouter(prefix="/permit", tags=["execution reports"])
#: A filer (an enterprise's own reporting system) files and reads the
#: reports of the enterprise its token names (`uscc`) only; the
#: missed-report list, of every enterprise, is the bureau's.
WRITERS = ("officer", "admin", "filer")
READERS = ("officer", "admin", "auditor", "investment", "filer")
MISSED_READERS = ("officer", "admin", "auditor", "investment")


@router.post(
    "/permits/{permit_id}/execution-reports", response_model=ExecutionReportOut, status_code=201
)
async def file_execution_report(
    permit_id: ResourceId,
    body: ExecutionReportIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> ExecutionReportOut:
    """File a permit's execution report (执行报告) for a period that has ended:
    the actual emissions of the pollutants it limits. Amounts above the
    permitted amount are accepted and flagged as findings (超许可排放量). A
    second filing for the period is a correction: a new version that
    supersedes the one before, which is kept."""
    return await service.file(db, principal, permit_id, body, utcnow())


@router.get("/permits/{permit_id}/execution-reports", response_model=Page[ExecutionReportOut])
async def list_execution_reports(
    permit_id: ResourceId,
    superseded: bool = Query(False, description="also the versions later corrected"),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[ExecutionReportOut]:
    """A permit's execution reports by period: the current version of each,
    or every version with `superseded=true`. A filer reads those of the
    enterprise its token names (`uscc`) only."""
    return await service.list_reports(db, principal, permit_id, superseded, cursor, limit)


@router.get("/execution-reports/missed", response_model=Page[MissedReportOut])
async def list_missed_execution_reports(
    district: DistrictCode | None = None,
    as_of: Day | None = Query(
        None,
        description="the day overdue is judged on; default today; at most one year after today",
    ),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*MISSED_READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Page[MissedReportOut]:
    """The missed-report list (逾期未报): for each permit in force, the
    periods it owes whose due date has passed with no report filed."""
    today = local_today(utcnow())
    if as_of is not None and (refusal := rules.as_of_refusal(as_of, today)):
        raise field_error("as_of", refusal, "less_than_equal")
    today = as_of or today
    return await service.list_missed(
        db,
        visible_districts(principal, district),
        today,
        cursor,
        limit,
        settings.execution_reports_owed_from,
    )
