"""Grades with history, the guarantee list, per-plant plans and the policy table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.calendar import local_date
from svc_common.db import Database, hold_lock
from svc_common.errors import Conflict, FieldError, NotFound, Unprocessable, field_error
from svc_common.events.schemas import supervision as ev
from svc_common.i18n import msg
from svc_common.pagination import keyset_after

from supervision_svc.grading import rules
from supervision_svc.grading.models import EmergencyPolicy, GradeRecord, GuaranteeEntry, PlantPlan
from supervision_svc.grading.schemas import (
    GradeIn,
    GradeOut,
    GuaranteeIn,
    GuaranteeOut,
    PlantPlanIn,
    PolicyIn,
)
from supervision_svc.registry.models import Enterprise


async def known_enterprise(
    s: AsyncSession, principal: Principal, uscc: str, *, lock: bool = False
) -> Enterprise:
    """The enterprise on the register, if the caller may act on it. `lock`:
    held until the transaction ends, so that writes replacing one of its
    entries (the guarantee list, a plant plan) run one after the other."""
    e = await s.get(Enterprise, uscc, with_for_update=lock)
    if e is None or not principal.may_act_in(e.district):
        raise NotFound(msg(f"no enterprise {uscc} on the register", f"登记册中没有企业 {uscc}"))
    return e


def grade_out(g: GradeRecord, name: str) -> GradeOut:
    return GradeOut(
        uscc=g.uscc,
        enterprise_name=name,
        district=g.district,
        grade=g.grade,
        benchmark=g.benchmark,
        industry=g.industry,
        valid_from=g.valid_from,
        valid_to=g.valid_to,
        basis=g.basis,
        set_by=g.set_by,
        set_at=g.set_at,
    )


async def set_grade(
    s: AsyncSession, principal: Principal, uscc: str, body: GradeIn, now: dt.datetime
) -> GradeOut:
    # Locked: two gradings of one enterprise at once run one after the other,
    # so the second sees the first (below).
    e = await known_enterprise(s, principal, uscc, lock=True)
    latest = await s.scalar(
        select(GradeRecord)
        .where(GradeRecord.uscc == uscc)
        .order_by(GradeRecord.set_at.desc(), GradeRecord.id.desc())
        .limit(1)
    )
    if latest is not None and rules.says_the_same(_said(latest, GradeIn), body.model_dump()):
        # The same grading again (a PUT retried, or sent twice at once) is
        # the one in force: no second record, event or audit entry.
        return grade_out(latest, e.name)
    g = GradeRecord(
        uscc=uscc, district=e.district, **body.model_dump(), set_by=principal.sub, set_at=now
    )
    s.add(g)
    record_audit(s, principal, "grade.set", "enterprise", uscc, body.model_dump(mode="json"))
    outbox.emit(
        s,
        ev.GradeSet(
            uscc=uscc,
            district=e.district,
            grade=body.grade,
            benchmark=body.benchmark,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
        ),
    )
    return grade_out(g, e.name)


def _said(record: GradeRecord | GuaranteeEntry, model: type[BaseModel]) -> dict[str, Any]:
    """What a record says, as `model` (the PUT's body) names its fields."""
    return {name: getattr(record, name) for name in model.model_fields}


async def grades_on(
    s: AsyncSession,
    day: dt.date,
    *,
    district: str | None = None,
    districts: Iterable[str] | None = None,
    usccs: Iterable[str] | None = None,
) -> dict[str, GradeRecord]:
    """Each enterprise's grade on `day`: the latest record set covering it."""
    q = select(GradeRecord).where(GradeRecord.valid_from <= day, GradeRecord.valid_to >= day)
    if district is not None:
        q = q.where(GradeRecord.district == district)
    if districts is not None:
        q = q.where(GradeRecord.district.in_(sorted(districts)))
    if usccs is not None:
        q = q.where(GradeRecord.uscc.in_(sorted(usccs)))
    out: dict[str, GradeRecord] = {}
    for g in await s.scalars(q.order_by(GradeRecord.set_at, GradeRecord.id)):
        out[g.uscc] = g
    return out


async def grade_history(s: AsyncSession, uscc: str) -> list[GradeRecord]:
    q = select(GradeRecord).where(GradeRecord.uscc == uscc)
    return list(await s.scalars(q.order_by(GradeRecord.set_at.desc(), GradeRecord.id.desc())))


def guarantee_out(g: GuaranteeEntry, name: str) -> GuaranteeOut:
    return GuaranteeOut(
        uscc=g.uscc,
        enterprise_name=name,
        district=g.district,
        reason=g.reason,
        valid_from=g.valid_from,
        valid_to=g.valid_to,
        allowed_measure=g.allowed_measure,
        note=g.note,
        set_by=g.set_by,
        set_at=g.set_at,
    )


async def put_guarantee(
    s: AsyncSession, principal: Principal, uscc: str, body: GuaranteeIn, now: dt.datetime
) -> GuaranteeOut:
    """Put an enterprise on the list; an entry it had is ended and replaced,
    unless it says what `body` says: then it is the one in force, and
    nothing is written (a PUT sent again)."""
    e = await known_enterprise(s, principal, uscc, lock=True)
    given = body.model_dump() | {"allowed_measure": body.allowed_measure.as_dict()}
    for current in await _open_guarantees(s, uscc):
        if rules.says_the_same(_said(current, GuaranteeIn), given):
            return guarantee_out(current, e.name)
    await _end_guarantees(s, uscc, now)
    g = GuaranteeEntry(
        uscc=uscc,
        district=e.district,
        reason=body.reason,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        allowed_measure=body.allowed_measure.as_dict(),
        note=body.note,
        set_by=principal.sub,
        set_at=now,
    )
    s.add(g)
    record_audit(s, principal, "guarantee.put", "enterprise", uscc, body.model_dump(mode="json"))
    return guarantee_out(g, e.name)


async def _open_guarantees(s: AsyncSession, uscc: str) -> list[GuaranteeEntry]:
    """The enterprise's entries not ended (one, or none: puts take turns)."""
    q = select(GuaranteeEntry).where(GuaranteeEntry.uscc == uscc, GuaranteeEntry.ended_at.is_(None))
    return list(await s.scalars(q))


async def _end_guarantees(s: AsyncSession, uscc: str, now: dt.datetime) -> int:
    current = await _open_guarantees(s, uscc)
    for g in current:
        g.ended_at = now
    return len(current)


async def remove_guarantee(
    s: AsyncSession, principal: Principal, uscc: str, now: dt.datetime
) -> None:
    await known_enterprise(s, principal, uscc, lock=True)
    if not await _end_guarantees(s, uscc, now):
        raise NotFound(msg(f"{uscc} is not on the guarantee list", f"{uscc} 不在保障性清单中"))
    record_audit(s, principal, "guarantee.remove", "enterprise", uscc, None)


def _in_force_on(day: dt.date, districts: Iterable[str] | None) -> Select[Any]:
    """The guarantee entries in force on `day` (not ended, `day` within
    their validity), of `districts` (None: all)."""
    q = select(GuaranteeEntry).where(
        GuaranteeEntry.ended_at.is_(None),
        GuaranteeEntry.valid_from <= day,
        GuaranteeEntry.valid_to >= day,
    )
    if districts is not None:
        q = q.where(GuaranteeEntry.district.in_(sorted(districts)))
    return q


async def guarantees_on(
    s: AsyncSession, day: dt.date, districts: Iterable[str] | None = None
) -> dict[str, GuaranteeEntry]:
    q = _in_force_on(day, districts)
    return {g.uscc: g for g in await s.scalars(q.order_by(GuaranteeEntry.id))}


async def guarantee_page(
    s: AsyncSession,
    day: dt.date,
    districts: Iterable[str] | None,
    *,
    after: str | None,
    limit: int,
) -> list[GuaranteeEntry]:
    """The entries in force on `day` after the USCC `after`, by USCC: `limit
    + 1` at most (`keyset_page` keeps `limit`). An enterprise has one entry
    not ended at most (puts take turns on its row), so the USCC is the key."""
    q = _in_force_on(day, districts)
    if after is not None:
        q = q.where(keyset_after(after, GuaranteeEntry.uscc))
    q = q.order_by(GuaranteeEntry.uscc, GuaranteeEntry.id).limit(limit + 1)
    return list(await s.scalars(q))


async def put_plan(
    s: AsyncSession, principal: Principal, uscc: str, body: PlantPlanIn, now: dt.datetime
) -> PlantPlan:
    e = await known_enterprise(s, principal, uscc, lock=True)
    p = await s.scalar(
        select(PlantPlan).where(PlantPlan.uscc == uscc, PlantPlan.level == body.level)
    )
    if p is None:
        p = PlantPlan(uscc=uscc, district=e.district, level=body.level)
        s.add(p)
    p.measure, p.note, p.set_by, p.set_at = body.measure.as_dict(), body.note, principal.sub, now
    record_audit(s, principal, "plant_plan.put", "enterprise", uscc, body.model_dump(mode="json"))
    return p


async def plans_for(
    s: AsyncSession, level: str, districts: Iterable[str]
) -> dict[str, rules.Measure]:
    q = select(PlantPlan).where(PlantPlan.level == level, PlantPlan.district.in_(sorted(districts)))
    return {p.uscc: rules.Measure.of(p.measure) for p in await s.scalars(q)}


async def ensure_default_policy(db: Database) -> None:
    """Start-up: the shipped table as the first version, if there is none."""
    async with db.transaction() as s:
        if await s.scalar(select(func.count()).select_from(EmergencyPolicy)):
            return
        s.add(
            EmergencyPolicy(
                effective_from=rules.DEFAULT_POLICY_FROM,
                rules=rules.default_rules(),
                note=rules.DEFAULT_POLICY_NOTE[0],
                set_by=SYSTEM.sub,
                set_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            )
        )


def policy_note(note: str | None, set_by: str) -> str | None:
    """A policy table's note as the caller reads it: the shipped table's in
    the caller's language; an administrator's as it was written."""
    if set_by == SYSTEM.sub and note == rules.DEFAULT_POLICY_NOTE[0]:
        return msg(*rules.DEFAULT_POLICY_NOTE)
    return note


async def policy_on(s: AsyncSession, day: dt.date) -> EmergencyPolicy:
    p = await s.scalar(
        select(EmergencyPolicy)
        .where(EmergencyPolicy.effective_from <= day)
        .order_by(EmergencyPolicy.effective_from.desc())
        .limit(1)
    )
    if p is None:
        raise Conflict(
            msg(f"no emergency policy is in force on {day}", f"{day} 没有生效的应急减排措施表")
        )
    return p


async def set_policy(
    s: AsyncSession, principal: Principal, body: PolicyIn, now: dt.datetime
) -> EmergencyPolicy:
    if problem := rules.policy_start_problem(body.effective_from, local_date(now)):
        raise field_error("effective_from", problem)
    table = [r.model_dump() for r in body.rules]
    seen = [(r["level"], r["tier"]) for r in table]
    if (again := next((i for i, key in enumerate(seen) if key in seen[:i]), None)) is not None:
        raise field_error(
            f"rules.{again}",
            msg(
                "its level and tier appear twice in the table",
                "其预警级别与分级在措施表中出现两次",
            ),
        )
    if missing := rules.missing_rules(table):
        why = msg(
            "the table must cover every level and tier; missing: " + ", ".join(missing),
            "措施表须覆盖每个预警级别与分级；缺少：" + "、".join(missing),
        )
        raise Unprocessable(
            f"rules: {why}", errors=[FieldError(field="rules", message=why)], missing=missing
        )
    for r in table:
        r["measure"] = {k: v for k, v in r["measure"].items() if v not in (None, [])}
    # One table a day: two setting the same day's at once take turns (the
    # second replaces the first, as one after the other).
    await hold_lock(s, "supervision.emergency_policy", body.effective_from.isoformat())
    p = await s.scalar(
        select(EmergencyPolicy).where(EmergencyPolicy.effective_from == body.effective_from)
    )
    if p is None:
        p = EmergencyPolicy(effective_from=body.effective_from)
        s.add(p)
    p.rules, p.note, p.set_by, p.set_at = table, body.note, principal.sub, now
    detail: dict[str, Any] = {"effective_from": body.effective_from.isoformat(), "rules": table}
    record_audit(s, principal, "policy.set", "emergency_policy", str(body.effective_from), detail)
    return p
