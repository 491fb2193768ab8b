"""Inspection plans (the draw), inspections with findings, the enforcement report."""

from __future__ import annotations

import bisect
import datetime as dt
import secrets
import uuid
from collections import Counter

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.calendar import end_of_day, local_date, start_of_day
from svc_common.db import hold_lock
from svc_common.errors import NotFound, field_error
from svc_common.events.schemas import supervision as ev
from svc_common.i18n import msg
from svc_common.pagination import keyset_page

from supervision_svc.cases.models import EnforcementCase
from supervision_svc.complaints.models import Complaint
from supervision_svc.grading.service import grades_on
from supervision_svc.inspections import rules
from supervision_svc.inspections.models import Finding, Inspection, InspectionPlan
from supervision_svc.inspections.schemas import (
    CandidateOut,
    DrawnOut,
    EnforcementReport,
    FindingOut,
    InspectionIn,
    InspectionOut,
    PlanCandidates,
    PlanIn,
    PlanOut,
    PlanSummary,
    TierOut,
)
from supervision_svc.numbering import next_number
from supervision_svc.registry.models import Enterprise, Permit
from supervision_svc.registry.rules import IN_FORCE, permit_valid_on
from supervision_svc.settings import Settings

YEAR = dt.timedelta(days=365)
OPEN_FINDING = ("open", "case_opened")


async def draw_facts(
    s: AsyncSession, district: str, now: dt.datetime
) -> tuple[dict[str, Enterprise], list[rules.DrawFacts]]:
    """Every operating enterprise of the district and what its weight depends on."""
    today = local_date(now)
    enterprises = {
        e.uscc: e
        for e in await s.scalars(
            select(Enterprise).where(
                Enterprise.district == district, Enterprise.operating_status != "closed"
            )
        )
    }
    # In force today by the register's one rule (valid_from ≤ today ≤ valid_to).
    permitted = {
        uscc
        for uscc, status, valid_from, valid_to in await s.execute(
            select(Permit.uscc, Permit.status, Permit.valid_from, Permit.valid_to).where(
                Permit.district == district, Permit.status.in_(sorted(IN_FORCE))
            )
        )
        if permit_valid_on(status, valid_from, valid_to, today)
    }
    findings = dict(
        (
            await s.execute(
                select(Finding.uscc, func.count())
                .where(Finding.district == district, Finding.found_at >= now - YEAR)
                .group_by(Finding.uscc)
            )
        ).all()
    )
    open_findings = dict(
        (
            await s.execute(
                select(Finding.uscc, func.count())
                .where(Finding.district == district, Finding.status.in_(OPEN_FINDING))
                .group_by(Finding.uscc)
            )
        ).all()
    )
    substantiated = dict(
        (
            await s.execute(
                select(Complaint.uscc, func.count())
                .where(
                    Complaint.district == district,
                    Complaint.uscc.is_not(None),
                    Complaint.outcome == "substantiated",
                    Complaint.closed_at >= now - YEAR,
                )
                .group_by(Complaint.uscc)
            )
        ).all()
    )
    grades = await grades_on(s, today, district=district)
    out = []
    for uscc, e in sorted(enterprises.items()):
        g = grades.get(uscc)
        lawful = uscc in permitted or (
            e.registration_valid_to is not None and e.registration_valid_to >= today
        )
        out.append(
            rules.DrawFacts(
                uscc=uscc,
                lawful=lawful,
                findings_12m=int(findings.get(uscc, 0)),
                open_findings=int(open_findings.get(uscc, 0)),
                substantiated_complaints_12m=int(substantiated.get(uscc, 0)),
                grade=g.grade if g else None,
                benchmark=g.benchmark if g else None,
            )
        )
    return enterprises, out


async def create_plan(
    s: AsyncSession, principal: Principal, body: PlanIn, settings: Settings, now: dt.datetime
) -> InspectionPlan:
    principal.require_district(body.district)
    # One draw for a district's day: a period overlapping a plan's is
    # refused. Every period lies within its year, so two draws that could
    # overlap are of one year and take turns (PostgreSQL: a transaction
    # lock per district and year): the second sees the first's plan.
    await hold_lock(
        s, "supervision.inspection_plan", f"{body.district}:{rules.period_year(body.period)}"
    )
    P = InspectionPlan
    # Every plan of the district (a few a year), its period read by the
    # rule: one drawn before periods were checked may be written otherwise.
    earlier = await s.execute(
        select(P.id, P.period, P.created_by, P.created_at)
        .where(P.district == body.district)
        .order_by(P.created_at, P.id)
    )
    rules.refuse_second_draw(
        body.district, body.period, [rules.DrawnPlan(*row) for row in earlier.all()]
    )
    enterprises, facts = await draw_facts(s, body.district, now)
    if not facts:
        raise field_error(
            "district",
            msg(
                "the district has no operating enterprise on the register to draw from",
                "该区登记册中没有可抽取的在营企业",
            ),
        )
    weights = {
        "low": settings.draw_weight_low,
        "normal": settings.draw_weight_normal,
        "high": settings.draw_weight_high,
    }
    tiers = {f.uscc: rules.tier(f)[0] for f in facts}
    by_uscc = {u: weights[t] for u, t in tiers.items()}
    seed = body.seed if body.seed is not None else secrets.randbelow(2**62)
    k = rules.sample_size(len(facts), body.count, body.share_percent)
    pool = sorted(set(body.inspector_pool))
    drawn, inspectors = rules.redraw(rules.DrawInputs(seed, k, by_uscc, tuple(pool)))
    plan = InspectionPlan(
        id=str(uuid.uuid4()),
        district=body.district,
        period=body.period,
        seed=seed,
        requested_count=body.count,
        requested_share=None if body.share_percent is None else str(body.share_percent),
        population=len(facts),
        weights=weights,
        candidates=[[u, tiers[u], by_uscc[u]] for u in sorted(by_uscc)],
        inspector_pool=pool,
        draw_method=rules.DRAW_METHOD,
        selection=[
            {
                "uscc": u,
                "name": enterprises[u].name,
                "tier": tiers[u],
                "weight": by_uscc[u],
                "inspectors": inspectors.get(u, []),
            }
            for u in drawn
        ],
        created_by=principal.sub,
        created_at=now,
    )
    s.add(plan)
    record_audit(
        s,
        principal,
        "inspection_plan.draw",
        "inspection_plan",
        plan.id,
        {"district": plan.district, "period": plan.period, "seed": seed, "drawn": len(drawn)},
    )
    return plan


def plan_out(p: InspectionPlan) -> PlanOut:
    tiers = {u: t for u, t, _ in p.candidates}
    drawn = [x["uscc"] for x in p.selection]
    return PlanOut(
        id=p.id,
        district=p.district,
        period=p.period,
        method=p.draw_method,
        seed=p.seed,
        requested_count=p.requested_count,
        share_percent=p.requested_share,
        population=p.population,
        sample_size=len(drawn),
        weights=p.weights,
        tiers=[TierOut(**vars(c)) for c in rules.tier_counts(tiers, p.weights, drawn)],
        inspector_pool=p.inspector_pool,
        selection=[DrawnOut(**x) for x in p.selection],
        created_by=p.created_by,
        created_at=p.created_at,
    )


def plan_summary(p: InspectionPlan) -> PlanSummary:
    return PlanSummary(
        id=p.id,
        district=p.district,
        period=p.period,
        method=p.draw_method,
        seed=p.seed,
        requested_count=p.requested_count,
        share_percent=p.requested_share,
        population=p.population,
        sample_size=len(p.selection),
        created_by=p.created_by,
        created_at=p.created_at,
    )


def plan_candidates(p: InspectionPlan, after: str | None, limit: int) -> PlanCandidates:
    """A page of the plan's candidates in USCC order: the `limit` after the
    USCC `after` (from the start without one). The candidates are kept with
    the plan in USCC order (`create_plan`), so a page is a slice of them."""
    drawn = {x["uscc"] for x in p.selection}
    rows = p.candidates
    if after is not None:
        rows = rows[bisect.bisect_right([u for u, _, _ in rows], after) :]
    page = keyset_page(
        rows[: limit + 1],
        limit,
        lambda r: r[0],
        lambda r: CandidateOut(uscc=r[0], tier=r[1], weight=r[2], drawn=r[0] in drawn),
    )
    return PlanCandidates(
        plan_id=p.id,
        population=p.population,
        candidates=page.items,
        next_cursor=page.next_cursor,
    )


async def record_inspection(
    s: AsyncSession, principal: Principal, body: InspectionIn, now: dt.datetime
) -> tuple[Inspection, list[Finding], Enterprise]:
    e = await s.get(Enterprise, body.uscc)
    # An enterprise of a district the caller may not act in reads as one not
    # on the register: a 403 naming its district would say it exists, and where.
    if e is None or not principal.may_act_in(e.district):
        raise field_error(
            "uscc",
            msg(
                "is not on the register (permit-svc has not announced this enterprise)",
                "不在登记册中（排污许可服务尚未登记该企业）",
            ),
        )
    if body.inspected_at > now + dt.timedelta(minutes=5):
        raise field_error("inspected_at", msg("is in the future", "晚于当前时间"))
    if body.plan_id is not None:
        plan = await s.get(InspectionPlan, body.plan_id)
        if plan is None or plan.district != e.district:
            raise field_error(
                "plan_id", msg("is not a plan of this district", "不是该区的抽查计划")
            )
        # The draw chose whom to inspect: an enterprise it did not draw is
        # inspected outside the plan, not recorded as of the random draw.
        if e.uscc not in {x["uscc"] for x in plan.selection}:
            raise field_error(
                "plan_id",
                msg(
                    f"the plan did not draw this enterprise ({e.uscc}): record the "
                    "inspection without plan_id",
                    f"抽查计划未抽中该企业（{e.uscc}）：请不带 plan_id 记录此次检查",
                ),
            )
        if problem := rules.outside_period_problem(local_date(body.inspected_at), plan.period):
            raise field_error("inspected_at", problem)
    year = local_date(body.inspected_at).year
    seq = await next_number(s, f"inspection:{e.district}:{year}")
    i = Inspection(
        id=str(uuid.uuid4()),
        inspection_no=f"JC-{e.district}-{year}-{seq:06d}",
        uscc=e.uscc,
        district=e.district,
        inspected_at=body.inspected_at,
        inspectors=body.inspectors,
        plan_id=body.plan_id,
        items=[it.model_dump(exclude={"findings"}) for it in body.items],
        created_by=principal.sub,
        created_at=now,
    )
    s.add(i)
    await s.flush()  # the inspection before its findings (no ORM relationship orders them)
    findings = [
        Finding(
            id=str(uuid.uuid4()),
            inspection_id=i.id,
            uscc=e.uscc,
            district=e.district,
            item=it.item,
            description=f.description,
            severity=f.severity,
            status="open",
            found_at=body.inspected_at,
        )
        for it in body.items
        for f in it.findings
    ]
    s.add_all(findings)
    record_audit(
        s,
        principal,
        "inspection.record",
        "inspection",
        i.id,
        {"uscc": e.uscc, "inspectors": body.inspectors, "findings": len(findings)},
    )
    outbox.emit(
        s,
        ev.InspectionRecorded(
            inspection_id=i.id,
            inspection_no=i.inspection_no,
            uscc=e.uscc,
            district=e.district,
            inspected_at=i.inspected_at,
            findings=len(findings),
            plan_id=i.plan_id,
        ),
    )
    return i, findings, e


def inspection_out(i: Inspection, findings: list[Finding], name: str) -> InspectionOut:
    return InspectionOut(
        id=i.id,
        inspection_no=i.inspection_no,
        uscc=i.uscc,
        enterprise_name=name,
        district=i.district,
        inspected_at=i.inspected_at,
        inspectors=i.inspectors,
        plan_id=i.plan_id,
        items=i.items,
        findings=[
            FindingOut(
                id=f.id,
                item=f.item,
                description=f.description,
                severity=f.severity,
                status=f.status,
            )
            for f in findings
        ],
    )


async def get_inspection(
    s: AsyncSession, principal: Principal, inspection_id: str
) -> InspectionOut:
    i = await s.get(Inspection, inspection_id[:64])
    if i is None or not principal.may_act_in(i.district):
        raise NotFound(
            msg(f"no inspection {inspection_id[:64]}", f"没有检查记录 {inspection_id[:64]}")
        )
    findings = list(
        await s.scalars(select(Finding).where(Finding.inspection_id == i.id).order_by(Finding.id))
    )
    e = await s.get(Enterprise, i.uscc)
    return inspection_out(i, findings, e.name if e else "")


async def enforcement_report(
    s: AsyncSession,
    districts: list[str] | None,
    district: str | None,
    start: dt.date,
    end: dt.date,
) -> EnforcementReport:
    """Inspections and distinct enterprises inspected, problems found
    (findings), cases filed (proposed, not rejected), decided and closed."""
    lo, hi = start_of_day(start), end_of_day(end)

    def scoped(q, column):
        return q if districts is None else q.where(column.in_(districts))

    n, enterprises = (
        await s.execute(
            scoped(
                select(func.count(), func.count(func.distinct(Inspection.uscc))).where(
                    Inspection.inspected_at >= lo, Inspection.inspected_at < hi
                ),
                Inspection.district,
            )
        )
    ).one()
    problems = await s.scalar(
        scoped(
            select(func.count()).where(Finding.found_at >= lo, Finding.found_at < hi),
            Finding.district,
        )
    )
    C = EnforcementCase
    counts: Counter[str] = Counter()
    for label, cond in (
        ("filed", and_(C.proposed_at >= lo, C.proposed_at < hi, C.status != "rejected")),
        (
            "decided",
            and_(C.decided_at >= lo, C.decided_at < hi, C.status.in_(["decided", "closed"])),
        ),
        ("closed", and_(C.closed_at >= lo, C.closed_at < hi)),
    ):
        counts[label] = int(
            await s.scalar(scoped(select(func.count()).where(cond), C.district)) or 0
        )
    return EnforcementReport(
        district=district,
        from_=start,
        to=end,
        inspections=int(n),
        enterprises_inspected=int(enterprises),
        problems_found=int(problems or 0),
        cases_filed=counts["filed"],
        cases_decided=counts["decided"],
        cases_closed=counts["closed"],
    )
