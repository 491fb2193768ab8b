"""Alerts and the measures they require of each affected enterprise: its
grade and benchmark on the alert's first day, the policy table in force
then, its per-plant plan, the guarantee list; expected reductions from the
permitted VOCs and NOx of its permit in force."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections import defaultdict

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.calendar import local_date
from svc_common.db import hold_lock
from svc_common.districts import DISTRICTS
from svc_common.events.schemas import supervision as ev
from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes, list_has_any
from svc_common.uploads import csv_cell, csv_writer

from supervision_svc.alerts import rules as alert_rules
from supervision_svc.alerts.models import Alert
from supervision_svc.alerts.schemas import (
    AlertIn,
    AlertLift,
    AlertMeasures,
    AlertOut,
    DistrictReduction,
    EnterpriseMeasure,
)
from supervision_svc.grading import rules
from supervision_svc.grading.service import grades_on, guarantees_on, plans_for, policy_on
from supervision_svc.registry.models import Enterprise, Permit
from supervision_svc.registry.rules import IN_FORCE, permit_valid_on
from supervision_svc.settings import Settings


def alert_out(a: Alert, now: dt.datetime) -> AlertOut:
    """An alert as every route answers it (one, the list, issue, lift,
    measures): with its state at `now`."""
    return AlertOut(
        id=a.id,
        level=a.level,
        districts=a.districts,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        note=a.note,
        issued_by=a.issued_by,
        issued_at=a.issued_at,
        replaces=a.replaces or [],
        lifted_at=a.lifted_at,
        lifted_by=a.lifted_by,
        lift_reason=a.lift_reason,
        replaced_by=a.replaced_by,
        state=alert_rules.state(a.starts_at, a.ends_at, a.lifted_at, now),
    )


def no_alert(alert_id: str) -> str:
    """The 404 of an alert that is not there or not the caller's to see:
    one answer for both (Principal.require_found), on every route."""
    return msg(f"no alert {alert_id[:64]}", f"没有预警 {alert_id[:64]}")


def found(principal: Principal, a: Alert | None, alert_id: str) -> Alert:
    """`a` when it is there and touches one of the caller's districts; else
    404 `no_alert`."""
    principal.require_found(no_alert(alert_id), *(a.districts if a else [None]))
    assert a is not None
    return a


def in_force_condition(at: dt.datetime) -> ColumnElement[bool]:
    """alert_rules.in_force_at, in SQL: the alerts in force at `at`."""
    return and_(
        Alert.starts_at <= at,
        or_(and_(Alert.lifted_at.is_(None), Alert.ends_at > at), Alert.lifted_at > at),
    )


def state_condition(state: alert_rules.State, now: dt.datetime) -> ColumnElement[bool]:
    """alert_rules.state, in SQL: the alerts in `state` at `now`."""
    lifted = and_(
        Alert.lifted_at.is_not(None),
        or_(Alert.lifted_at <= now, Alert.lifted_at <= Alert.starts_at),
    )
    if state == "in_force":
        return in_force_condition(now)
    if state == "lifted":
        return lifted
    if state == "upcoming":
        # Not begun, and not cancelled (lifted at its start).
        return and_(
            Alert.starts_at > now,
            or_(Alert.lifted_at.is_(None), Alert.lifted_at > Alert.starts_at),
        )
    return and_(Alert.lifted_at.is_(None), Alert.ends_at <= now)


def touching(districts: list[str]) -> ColumnElement[bool]:
    """The alerts naming any of `districts`."""
    return list_has_any(Alert.districts, districts)


def _period(a: Alert) -> alert_rules.Period:
    return alert_rules.Period(a.id, a.level, tuple(a.districts), a.starts_at, a.in_force_until)


async def _alerts_during(s: AsyncSession, starts: dt.datetime, ends: dt.datetime) -> list[Alert]:
    """Alerts planned to be in force at some moment of [starts, ends), locked
    (the rules then judge by their actual end)."""
    q = (
        select(Alert)
        .where(Alert.starts_at < ends, Alert.ends_at > starts)
        .order_by(Alert.id)
        .with_for_update()
    )
    return list(await s.scalars(q))


async def issue(s: AsyncSession, principal: Principal, body: AlertIn, now: dt.datetime) -> Alert:
    """Issue an alert; the alerts it replaces are lifted at its start. One
    issue per district at a time (PostgreSQL: a lock per district, taken in
    district order), so two overlapping alerts issued at once cannot both
    pass the overlap check."""
    for d in body.districts:
        principal.require_district(d)
    for d in body.districts:
        await hold_lock(s, "alert-district", d)
    others = {a.id: a for a in await _alerts_during(s, body.starts_at, body.ends_at)}
    replaced = alert_rules.to_replace(
        body.districts,
        body.starts_at,
        body.ends_at,
        [_period(a) for a in others.values()],
        body.replaces,
    )
    a = Alert(
        id=str(uuid.uuid4()),
        level=body.level,
        districts=body.districts,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        note=body.note,
        issued_by=principal.sub,
        issued_at=now,
        replaces=[r.id for r in replaced] or None,
    )
    s.add(a)
    record_audit(s, principal, "alert.issue", "alert", a.id, body.model_dump(mode="json"))
    outbox.emit(
        s,
        ev.AlertIssued(
            alert_id=a.id,
            level=body.level,
            districts=body.districts,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
        ),
    )
    for r in replaced:
        old = others[r.id]
        _lift(s, principal, old, max(a.starts_at, old.starts_at), None, replaced_by=a.id)
    return a


async def lift(
    s: AsyncSession, principal: Principal, alert_id: str, body: AlertLift, now: dt.datetime
) -> Alert:
    """Lift an alert early (解除预警): by a caller who may issue it (every one
    of its districts), at `body.at` or now (alert_rules.lift_time)."""
    q = select(Alert).where(Alert.id == alert_id[:64]).with_for_update()
    a = found(principal, (await s.scalars(q)).one_or_none(), alert_id)
    for d in a.districts:
        principal.require_district(d)
    at = alert_rules.lift_time(a.starts_at, a.ends_at, a.lifted_at, body.at, now)
    _lift(s, principal, a, at, body.reason, replaced_by=None)
    return a


def _lift(
    s: AsyncSession,
    principal: Principal,
    a: Alert,
    at: dt.datetime,
    reason: str | None,
    *,
    replaced_by: str | None,
) -> None:
    """Record the lift, audited like the issue, and announce it."""
    a.lifted_at, a.lifted_by, a.lift_reason, a.replaced_by = at, principal.sub, reason, replaced_by
    detail = {"lifted_at": at.isoformat(), "reason": reason, "replaced_by": replaced_by}
    record_audit(s, principal, "alert.lift", "alert", a.id, detail)
    outbox.emit(
        s,
        ev.AlertLifted(
            alert_id=a.id,
            level=a.level,
            districts=a.districts,
            starts_at=a.starts_at,
            planned_ends_at=a.ends_at,
            lifted_at=at,
            replaced_by=replaced_by,
        ),
    )


async def measures(
    s: AsyncSession, a: Alert, districts: list[str], settings: Settings, now: dt.datetime
) -> AlertMeasures:
    """Affected: operating enterprises of the districts with a permit in force,
    a grade, a guarantee entry or a per-plant plan on the alert's first day."""
    day = local_date(a.starts_at)
    policy = await policy_on(s, day)
    table = rules.policy_table(policy.rules)
    grades = await grades_on(s, day, districts=districts)
    guarantees = await guarantees_on(s, day, districts)
    plans = await plans_for(s, a.level, districts)
    permits: dict[str, Permit] = {}
    q = select(Permit).where(Permit.district.in_(districts), Permit.status.in_(sorted(IN_FORCE)))
    for p in await s.scalars(q):
        if permit_valid_on(p.status, p.valid_from, p.valid_to, day):
            permits[p.uscc] = p
    affected = set(permits) | set(grades) | set(guarantees) | set(plans)
    enterprises = {
        e.uscc: e
        for e in await s.scalars(
            select(Enterprise).where(
                Enterprise.district.in_(districts), Enterprise.operating_status != "closed"
            )
        )
        if e.uscc in affected
    }
    stop_default = settings.stop_processes_default_percent
    items: list[EnterpriseMeasure] = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for uscc in sorted(enterprises):
        e, g, gl = enterprises[uscc], grades.get(uscc), guarantees.get(uscc)
        held = permits.get(uscc)
        req = rules.required_measure(
            a.level,
            g.grade if g else None,
            g.benchmark if g else None,
            table,
            plans.get(uscc),
            (gl.reason, rules.Measure.of(gl.allowed_measure)) if gl else None,
            stop_default,
        )
        cut = req.measure.share_percent(stop_default)
        vocs_kg, nox_kg = (held.vocs_kg, held.nox_kg) if held else (0, 0)
        if held is None:
            req.why.append(rules.no_permit())
        # The alert's actual length: up to its lift if lifted early.
        vocs_cut = rules.expected_reduction_kg(vocs_kg, cut, a.starts_at, a.in_force_until)
        nox_cut = rules.expected_reduction_kg(nox_kg, cut, a.starts_at, a.in_force_until)
        t = totals[e.district]
        t[0], t[1], t[2] = t[0] + 1, t[1] + vocs_cut, t[2] + nox_cut
        items.append(
            EnterpriseMeasure(
                uscc=uscc,
                name=e.name,
                district=e.district,
                grade=g.grade if g else None,
                benchmark=g.benchmark if g else None,
                tier=req.tier,
                guarantee=gl.reason if gl else None,
                plant_plan=uscc in plans,
                measure=req.measure.as_dict(),
                cut_percent=cut,
                why=req.why,
                permitted_vocs_t=kg_to_tonnes(vocs_kg),
                permitted_nox_t=kg_to_tonnes(nox_kg),
                expected_vocs_reduction_t=kg_to_tonnes(vocs_cut),
                expected_nox_reduction_t=kg_to_tonnes(nox_cut),
            )
        )
    return AlertMeasures(
        alert=alert_out(a, now),
        policy_effective_from=policy.effective_from,
        grades_on=day,
        items=items,
        districts=[
            DistrictReduction(
                district=d,
                enterprises=totals[d][0],
                expected_vocs_reduction_t=kg_to_tonnes(totals[d][1]),
                expected_nox_reduction_t=kg_to_tonnes(totals[d][2]),
            )
            for d in districts
        ],
    )


#: The CSV's columns: the English header is the JSON's field names (for
#: scripts), the Chinese one is what district teams read in a spreadsheet.
CSV_COLUMNS = (
    ("district", "区"),
    ("uscc", "统一社会信用代码"),
    ("name", "企业名称"),
    ("grade", "绩效分级"),
    ("benchmark", "标杆企业"),
    ("guarantee", "保障类清单"),
    ("plant_plan", "一厂一策"),
    ("measure", "减排措施"),
    ("cut_percent", "减排比例（%）"),
    ("expected_vocs_reduction_t", "预计VOCs减排量（吨）"),
    ("expected_nox_reduction_t", "预计NOx减排量（吨）"),
    ("why", "依据"),
)


def _said(code: str | None, zh: dict[str, str]) -> str:
    """A code in the caller's language (the code itself in English)."""
    return msg(code, zh.get(code, code)) if code else ""


def to_csv(m: AlertMeasures) -> str:
    """The measures as CSV for district teams, in the caller's language, with
    a BOM so spreadsheet programs read the Chinese as UTF-8."""
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow([msg(en, zh) for en, zh in CSV_COLUMNS])
    for i in m.items:
        w.writerow(
            [
                # An enterprise's name someone filed is shown as written,
                # never run as a formula (csv_cell), as in every export.
                csv_cell(cell)
                for cell in (
                    _said(i.district, DISTRICTS),
                    i.uscc,
                    i.name,
                    _said(i.grade, rules.GRADE_ZH),
                    _said(i.benchmark, rules.BENCHMARK_ZH),
                    _said(i.guarantee, rules.GUARANTEE_ZH),
                    msg("yes", "是") if i.plant_plan else "",
                    rules.Measure.of(i.measure).said(),
                    i.cut_percent,
                    f"{i.expected_vocs_reduction_t:.3f}",
                    f"{i.expected_nox_reduction_t:.3f}",
                    "; ".join(i.why),
                )
            ]
        )
    return "\ufeff" + buf.getvalue()
