"""Enforcement cases: proposal on a finding, the four-eyes decision (a
decided permit suspension is sent to permit-svc), closing when rectified."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.calendar import local_date
from svc_common.errors import Conflict, field_error
from svc_common.events.schemas import supervision as ev
from svc_common.i18n import msg

from supervision_svc.cases import rules
from supervision_svc.cases.models import EnforcementCase
from supervision_svc.cases.schemas import CaseIn, CaseOut, CloseIn, DecisionIn
from supervision_svc.inspections.models import Finding
from supervision_svc.numbering import next_number
from supervision_svc.registry.service import permit_in_force
from supervision_svc.validation import not_before_today


def to_out(c: EnforcementCase) -> CaseOut:
    return CaseOut(
        id=c.id,
        case_no=c.case_no,
        finding_id=c.finding_id,
        uscc=c.uscc,
        district=c.district,
        legal_basis=c.legal_basis,
        facts=c.facts,
        measure=c.measure,
        fine_cny=c.fine_cny,
        rectify_by=c.rectify_by,
        permit_id=c.permit_id,
        permit_no=c.permit_no,
        status=c.status,
        allowed_actions=rules.allowed_actions(c.status),
        proposed_by=c.proposed_by,
        proposed_at=c.proposed_at,
        decided_by=c.decided_by,
        decided_at=c.decided_at,
        decision_note=c.decision_note,
        closed_at=c.closed_at,
        closing_note=c.closing_note,
    )


def _no_permit() -> Conflict:
    return Conflict(
        msg(
            "the enterprise has no permit in force to suspend",
            "该企业没有有效的排污许可证，无法暂扣",
        )
    )


async def propose(
    s: AsyncSession, principal: Principal, body: CaseIn, now: dt.datetime
) -> EnforcementCase:
    if body.measure.rectify_by is not None:
        not_before_today(body.measure.rectify_by, local_date(now), "measure.rectify_by")
    f = (
        await s.scalars(select(Finding).where(Finding.id == body.finding_id).with_for_update())
    ).one_or_none()
    if f is None or not principal.may_act_in(f.district):
        raise field_error(
            "finding_id", msg("is not a finding you may act on", "不是您可处理的问题")
        )
    if f.status != "open":
        raise Conflict(
            msg(
                f"the finding already has a case or is rectified ({f.status})",
                f"该问题已立案或已整改（{f.status}）",
            ),
            finding_status=f.status,
        )
    permit_id = permit_no = None
    if body.measure.kind == "permit_suspension":
        p = await permit_in_force(s, f.uscc, local_date(now))
        if p is None:
            raise _no_permit()
        permit_id, permit_no = p.permit_id, p.permit_no
    year = local_date(now).year
    seq = await next_number(s, f"case:{f.district}:{year}")
    c = EnforcementCase(
        id=str(uuid.uuid4()),
        case_no=f"LA-{f.district}-{year}-{seq:04d}",
        finding_id=f.id,
        uscc=f.uscc,
        district=f.district,
        legal_basis=body.legal_basis,
        facts=body.facts,
        measure=body.measure.kind,
        fine_cny=body.measure.fine_cny,
        rectify_by=body.measure.rectify_by,
        permit_id=permit_id,
        permit_no=permit_no,
        status="proposed",
        proposed_by=principal.sub,
        proposed_at=now,
    )
    s.add(c)
    f.status = "case_opened"
    record_audit(
        s,
        principal,
        "case.propose",
        "case",
        c.id,
        {"case_no": c.case_no, "finding_id": f.id, **body.measure.model_dump(mode="json")},
    )
    return c


async def load_for_update(s: AsyncSession, principal: Principal, case_id: str) -> EnforcementCase:
    c = (
        await s.scalars(
            select(EnforcementCase).where(EnforcementCase.id == case_id[:64]).with_for_update()
        )
    ).one_or_none()
    # Another district's case is not found, as one that does not exist.
    return principal.found(c, no_case(case_id))


def no_case(case_id: str) -> str:
    return msg(f"no case {case_id[:64]}", f"没有案件 {case_id[:64]}")


async def decide(
    s: AsyncSession, principal: Principal, c: EnforcementCase, body: DecisionIn, now: dt.datetime
) -> None:
    after = rules.next_status(c.status, "approve" if body.approve else "reject")
    rules.check_four_eyes(c.proposed_by, principal.sub)
    if body.approve:
        rules.check_deadline_ahead(c.rectify_by, local_date(now))
    if body.approve and c.measure == "permit_suspension":
        # The register may have moved on since the proposal: suspend only a
        # permit still in force, and the one in force now.
        p = await permit_in_force(s, c.uscc, local_date(now))
        if p is None:
            raise _no_permit()
        c.permit_id, c.permit_no = p.permit_id, p.permit_no
    c.status, c.decided_by, c.decided_at, c.decision_note = after, principal.sub, now, body.note
    if not body.approve:
        f = await s.get(Finding, c.finding_id)
        if f is not None and f.status == "case_opened":
            f.status = "open"  # the finding may be taken up again
    record_audit(
        s,
        principal,
        "case.decide",
        "case",
        c.id,
        {"approve": body.approve, "proposed_by": c.proposed_by, "measure": c.measure},
    )
    outbox.emit(
        s,
        ev.CaseDecided(
            case_id=c.id,
            case_no=c.case_no,
            uscc=c.uscc,
            district=c.district,
            measure=c.measure,
            fine_cny=c.fine_cny,
            approved=body.approve,
            proposed_by=c.proposed_by,
            decided_by=principal.sub,
            decided_at=now,
        ),
    )
    if body.approve and c.measure == "permit_suspension":
        assert c.permit_id is not None
        outbox.emit(
            s,
            ev.PermitSuspensionDecided(
                case_id=c.id,
                case_no=c.case_no,
                uscc=c.uscc,
                district=c.district,
                permit_id=c.permit_id,
                permit_no=c.permit_no,
                legal_basis=c.legal_basis,
                reason=(c.facts or c.legal_basis)[:400],
                decided_by=principal.sub,
            ),
        )


async def close(
    s: AsyncSession, principal: Principal, c: EnforcementCase, body: CloseIn, now: dt.datetime
) -> None:
    after = rules.next_status(c.status, "close")
    c.status, c.closed_at, c.closing_note = after, now, body.note
    f = await s.get(Finding, c.finding_id)
    if f is not None:
        f.status = "rectified"
    record_audit(s, principal, "case.close", "case", c.id, {"note": body.note})
    outbox.emit(
        s,
        ev.CaseClosed(
            case_id=c.id, case_no=c.case_no, uscc=c.uscc, district=c.district, closed_at=now
        ),
    )
