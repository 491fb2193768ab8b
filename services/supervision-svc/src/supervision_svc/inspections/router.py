"""/supervision/inspection-plans, /supervision/inspections and
/supervision/reports/enforcement."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import defer
from svc_common.auth import Principal, require
from svc_common.calendar import local_date
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import NotFound
from svc_common.i18n import msg
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_after, keyset_page
from svc_common.service import get_db
from svc_common.types import Day, RecordId, ResourceId, utcnow
from svc_common.uscc import USCC

from supervision_svc.inspections import service
from supervision_svc.inspections.models import Finding, Inspection, InspectionPlan
from supervision_svc.inspections.schemas import (
    EnforcementReport,
    InspectionIn,
    InspectionOut,
    PlanCandidates,
    PlanIn,
    PlanOut,
    PlanSummary,
)
from supervision_svc.registry.models import Enterprise
from supervision_svc.scope import READERS, WRITERS, district_param, visible_districts
from supervision_svc.settings import Settings, get_settings
from supervision_svc.validation import cursor_position, cursor_str, report_period, uscc_param

router = APIRouter(prefix="/supervision", tags=["inspections"])


@router.post("/inspection-plans", status_code=201, response_model=PlanOut)
async def draw_plan(
    body: PlanIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PlanOut:
    """Draw enterprises to inspect by double random (双随机), weighted: lower
    for lawful A-grade or benchmark enterprises with a clean record
    (减少检查频次), higher for open findings or substantiated complaints.
    The seed is recorded: the same seed over the same register draws the same.

    A district's day is drawn once: a draw whose period overlaps a plan's
    of the district (`2026` and `2026-Q3`, `2026-Q3` and `2026-08`) is a
    409 (`reason: plan_exists`) naming that plan in `existing_plan` (its id
    and period) and the field `period`; two sent at once take turns, the
    second refused.

    Beyond the schema (422 naming the field): the district must have
    operating enterprises on the register to draw from; an
    `inspector_pool` must hold two different people (names equal but for
    case, width, hidden characters or runs of spaces are one person)."""
    async with db.transaction() as s:
        plan = await service.create_plan(s, principal, body, settings, utcnow())
    return service.plan_out(plan)


async def _plan(db: Database, principal: Principal, plan_id: str) -> InspectionPlan:
    async with db.session() as s:
        plan = await s.get(InspectionPlan, plan_id[:64])
    if plan is None or not principal.may_act_in(plan.district):
        raise NotFound(msg(f"no inspection plan {plan_id[:64]}", f"没有抽查计划 {plan_id[:64]}"))
    return plan


@router.get("/inspection-plans", response_model=Page[PlanSummary])
async def list_plans(
    district: DistrictCode | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[PlanSummary]:
    """The plans of the caller's districts (or `district`), the latest drawn
    first, each as asked and how many were drawn; its selection, candidates
    and pool at `/inspection-plans/{id}`."""
    P = InspectionPlan
    # The candidates (a district's whole register) are the plan's page's.
    q = select(P).options(defer(P.candidates))
    districts = visible_districts(principal, district)
    if districts is not None:
        q = q.where(P.district.in_(districts))
    if cursor:
        q = q.where(keyset_after(cursor_position(cursor), P.created_at, P.id, descending=True))
    q = q.order_by(P.created_at.desc(), P.id.desc()).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
    return keyset_page(
        rows, limit, lambda p: [p.created_at.isoformat(), p.id], service.plan_summary
    )


@router.get("/inspection-plans/{plan_id}", response_model=PlanOut)
async def get_plan(
    plan_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> PlanOut:
    return service.plan_out(await _plan(db, principal, plan_id))


@router.get("/inspection-plans/{plan_id}/candidates", response_model=PlanCandidates)
async def get_plan_candidates(
    plan_id: ResourceId,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> PlanCandidates:
    """The candidates of the draw (the district's operating enterprises on
    the day) with their tier and weight, in USCC order, a page at a time
    (`next_cursor` until the last): with the plan's seed, sample size and
    inspector pool, what redraws it. Each tier's USCCs, read from every page
    in turn, hash to the plan's `candidates_sha256` of that tier."""
    after = cursor_str(cursor) if cursor else None
    return service.plan_candidates(await _plan(db, principal, plan_id), after, limit)


@router.post("/inspections", status_code=201, response_model=InspectionOut)
async def record_inspection(
    body: InspectionIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> InspectionOut:
    """An on-site inspection by at least two inspectors, its items (绩效,
    台账, 治污设施运行, 在线监测, 按证排污) and the findings of each.

    Beyond the schema (422 naming the field): `uscc` must be an enterprise
    on the register (announced by permit-svc) in one of the caller's
    districts; `inspected_at` not in the future; `plan_id`, when given, a
    plan of the enterprise's district that drew the enterprise, and then
    `inspected_at` a day (Asia/Shanghai) of the plan's period; `inspectors` two different people
    (names equal but for case, width, hidden characters or runs of spaces
    are one person); each item at most once."""
    async with db.transaction() as s:
        i, findings, e = await service.record_inspection(s, principal, body, utcnow())
    return service.inspection_out(i, findings, e.name)


@router.get("/inspections/{inspection_id}", response_model=InspectionOut)
async def get_inspection(
    inspection_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> InspectionOut:
    async with db.session() as s:
        return await service.get_inspection(s, principal, inspection_id)


@router.get("/inspections", response_model=Page[InspectionOut])
async def list_inspections(
    district: DistrictCode | None = None,
    uscc: USCC | None = None,
    plan_id: RecordId | None = Query(None),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[InspectionOut]:
    """Latest first; `uscc`: an enterprise's, `plan_id`: those recorded
    under a plan (none for a plan of a district the caller may not see)."""
    q = select(Inspection, Enterprise.name).outerjoin(
        Enterprise, Enterprise.uscc == Inspection.uscc
    )
    districts = visible_districts(principal, district)
    if districts is not None:
        q = q.where(Inspection.district.in_(districts))
    if uscc:
        q = q.where(Inspection.uscc == uscc_param(uscc))
    if plan_id:
        q = q.where(Inspection.plan_id == plan_id)
    if cursor:
        q = q.where(
            keyset_after(
                cursor_position(cursor), Inspection.inspected_at, Inspection.id, descending=True
            )
        )
    q = q.order_by(Inspection.inspected_at.desc(), Inspection.id.desc()).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.execute(q)).all())
        # The findings of the inspections on the page only, not of the one more.
        ids = [i.id for i, _ in rows[:limit]]
        findings: dict[str, list[Finding]] = {x: [] for x in ids}
        if ids:
            for f in await s.scalars(select(Finding).where(Finding.inspection_id.in_(ids))):
                findings[f.inspection_id].append(f)
    return keyset_page(
        rows,
        limit,
        lambda r: [r[0].inspected_at.isoformat(), r[0].id],
        lambda r: service.inspection_out(r[0], findings[r[0].id], r[1] or ""),
    )


@router.get("/reports/enforcement", response_model=EnforcementReport)
async def enforcement_report(
    district: DistrictCode | None = None,
    from_: Day | None = Query(None, alias="from"),
    to: Day | None = None,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> EnforcementReport:
    """Enterprises inspected (检查企业), problems found (发现问题), cases filed
    (立案查处) in a period of Asia/Shanghai dates; by default from 1 January of
    `to`'s year (this year) to `to` (today)."""
    start, end = report_period(from_, to, local_date(utcnow()))
    districts = visible_districts(principal, district)
    async with db.session() as s:
        return await service.enforcement_report(s, districts, district_param(district), start, end)
