"""/supervision/grades, /supervision/guarantee-list, /supervision/plant-plans
and /supervision/emergency-policy."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select
from svc_common.auth import Principal, require, require_citywide
from svc_common.calendar import local_date
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_page
from svc_common.service import get_db
from svc_common.types import Day, utcnow
from svc_common.uscc import USCC

from supervision_svc.grading import service
from supervision_svc.grading.models import EmergencyPolicy, PlantPlan
from supervision_svc.grading.schemas import (
    Grade,
    GradeHistory,
    GradeIn,
    GradeOut,
    GuaranteeIn,
    GuaranteeOut,
    PlantPlanIn,
    PlantPlanOut,
    PolicyIn,
    PolicyOut,
)
from supervision_svc.registry.models import Enterprise
from supervision_svc.scope import READERS, WRITERS, visible_districts
from supervision_svc.validation import cursor_str, uscc_param

router = APIRouter(prefix="/supervision", tags=["grading"])


@router.put("/grades/{uscc}", response_model=GradeOut)
async def set_grade(
    uscc: USCC,
    body: GradeIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> GradeOut:
    """Grade an enterprise (A, B, C, D or leading; national or Tianjin
    benchmark); earlier gradings stay in its history."""
    async with db.transaction() as s:
        return await service.set_grade(s, principal, uscc_param(uscc), body, utcnow())


@router.get("/grades/{uscc}", response_model=GradeHistory)
async def grade_history(
    uscc: USCC,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> GradeHistory:
    uscc = uscc_param(uscc)
    today = local_date(utcnow())
    async with db.session() as s:
        e = await service.known_enterprise(s, principal, uscc)
        history = await service.grade_history(s, uscc)
        current = (await service.grades_on(s, today, usccs=[uscc])).get(uscc)
    return GradeHistory(
        uscc=uscc,
        current=service.grade_out(current, e.name) if current else None,
        history=[service.grade_out(g, e.name) for g in history],
    )


@router.get("/grades", response_model=Page[GradeOut])
async def list_grades(
    district: DistrictCode | None = None,
    grade: Grade | None = None,
    on: Day | None = Query(None, description="Asia/Shanghai date; default today"),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[GradeOut]:
    """Enterprises' grades in force on a date, by USCC."""
    districts = visible_districts(principal, district)
    day = on or local_date(utcnow())
    after = cursor_str(cursor) if cursor else ""
    async with db.session() as s:
        grades = await service.grades_on(s, day, districts=districts)
        chosen = sorted(
            (g for u, g in grades.items() if u > after and (grade is None or g.grade == grade)),
            key=lambda g: g.uscc,
        )
        names = dict(
            (
                await s.execute(
                    select(Enterprise.uscc, Enterprise.name).where(
                        Enterprise.uscc.in_([g.uscc for g in chosen[:limit]])
                    )
                )
            ).all()
        )
    return keyset_page(
        chosen, limit, lambda g: g.uscc, lambda g: service.grade_out(g, names.get(g.uscc, ""))
    )


@router.put("/guarantee-list/{uscc}", response_model=GuaranteeOut)
async def put_guarantee(
    uscc: USCC,
    body: GuaranteeIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> GuaranteeOut:
    """Put an enterprise on the guarantee list (保障性清单) with the most it
    may be asked to do in an alert."""
    async with db.transaction() as s:
        return await service.put_guarantee(s, principal, uscc_param(uscc), body, utcnow())


@router.delete("/guarantee-list/{uscc}", status_code=204)
async def remove_guarantee(
    uscc: USCC,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> Response:
    async with db.transaction() as s:
        await service.remove_guarantee(s, principal, uscc_param(uscc), utcnow())
    return Response(status_code=204)


@router.get("/guarantee-list", response_model=Page[GuaranteeOut])
async def list_guarantees(
    district: DistrictCode | None = None,
    on: Day | None = Query(None, description="Asia/Shanghai date; default today"),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[GuaranteeOut]:
    """The guarantee list (保障性清单) in force on a date, by USCC, a page at
    a time: follow `next_cursor` until it is null."""
    districts = visible_districts(principal, district)
    day = on or local_date(utcnow())
    after = cursor_str(cursor) if cursor else None
    async with db.session() as s:
        entries = await service.guarantee_page(s, day, districts, after=after, limit=limit)
        names = dict(
            (
                await s.execute(
                    select(Enterprise.uscc, Enterprise.name).where(
                        Enterprise.uscc.in_([g.uscc for g in entries[:limit]])
                    )
                )
            ).all()
        )
    return keyset_page(
        entries, limit, lambda g: g.uscc, lambda g: service.guarantee_out(g, names.get(g.uscc, ""))
    )


def _plan_out(p: PlantPlan) -> PlantPlanOut:
    return PlantPlanOut(
        uscc=p.uscc, level=p.level, measure=p.measure, note=p.note, set_by=p.set_by, set_at=p.set_at
    )


@router.put("/plant-plans/{uscc}", response_model=PlantPlanOut)
async def put_plant_plan(
    uscc: USCC,
    body: PlantPlanIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> PlantPlanOut:
    """Record an enterprise's own measure at an alert level (一厂一策)."""
    async with db.transaction() as s:
        p = await service.put_plan(s, principal, uscc_param(uscc), body, utcnow())
    return _plan_out(p)


@router.get("/plant-plans/{uscc}", response_model=list[PlantPlanOut])
async def get_plant_plans(
    uscc: USCC,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> list[PlantPlanOut]:
    uscc = uscc_param(uscc)
    async with db.session() as s:
        await service.known_enterprise(s, principal, uscc)
        plans = await s.scalars(select(PlantPlan).where(PlantPlan.uscc == uscc))
        return [_plan_out(p) for p in sorted(plans, key=lambda p: p.level)]


def _policy_out(p: EmergencyPolicy) -> PolicyOut:
    out = PolicyOut.model_validate(p, from_attributes=True)
    out.note = service.policy_note(p.note, p.set_by)
    return out


@router.put("/emergency-policy", response_model=PolicyOut)
async def set_policy(
    body: PolicyIn,
    principal: Principal = Depends(require_citywide("admin")),
    db: Database = Depends(get_db),
) -> PolicyOut:
    """A new version of the emergency policy table, in force from
    `effective_from` (the version of the same date is replaced).

    Beyond the schema (422 naming the field): `effective_from` is today
    (Asia/Shanghai) or later, so alerts already issued keep the measures of
    the table in force on their first day; `rules` covers every level and
    tier once."""
    async with db.transaction() as s:
        return _policy_out(await service.set_policy(s, principal, body, utcnow()))


@router.get(
    "/emergency-policy",
    response_model=PolicyOut,
    responses={409: {"description": "No emergency policy table is in force on that day"}},
)
async def get_policy(
    on: Day | None = None,
    _: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> PolicyOut:
    """The table in force on a date (default: today)."""
    async with db.session() as s:
        return _policy_out(await service.policy_on(s, on or local_date(utcnow())))
