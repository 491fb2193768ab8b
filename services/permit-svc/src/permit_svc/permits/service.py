"""Permit orchestration: application, each lifecycle step with its event and
audit entry in one transaction, expiry, queries and the import of existing
certificates."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import Conflict, FieldError, field_error
from svc_common.events.schemas import permit as ev
from svc_common.events.schemas.common import PollutantAmount, PollutantChange
from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

from permit_svc.calendar import local_today
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import (
    closed_message,
    holds_registration_message,
    needs_permit,
    registration_management_message,
    unknown_here_message,
)
from permit_svc.enterprises.service import snapshot
from permit_svc.missing import no_permit
from permit_svc.permits import rules
from permit_svc.permits.models import Permit
from permit_svc.permits.schemas import (
    Cancellation,
    PermitApplication,
    PermitChange,
    PermitOut,
    kg_to_limits,
    limits_to_kg,
)
from permit_svc.prechecks import service as prechecks
from permit_svc.prechecks.rules import Check
from permit_svc.prechecks.schemas import out as precheck_out
from permit_svc.quota_backing.service import backing_kg
from permit_svc.registrations.service import active_numbers
from permit_svc.settings import Settings


def to_out(
    p: Permit, enterprise_name: str, lead_days: int = 60, changes_permit_no: str | None = None
) -> PermitOut:
    """`changes_permit_no`: the number of the permit `p` changes (its
    `changes_permit_id`'s), read by the caller."""
    return PermitOut(
        id=p.id,
        permit_no=p.permit_no,
        uscc=p.uscc,
        enterprise_name=enterprise_name,
        district=p.district,
        industry_code=p.industry_code,
        category=p.category,
        status=p.status,
        last_action=p.last_action,
        allowed_actions=rules.allowed_actions(p.status),
        pollutants=kg_to_limits(p.pollutants),
        vocs_t=kg_to_tonnes(p.vocs_kg),
        quota_drawn_t=kg_to_tonnes(p.quota_drawn_kg),
        project_ref=p.project_ref,
        source_filing_id=p.source_filing_id,
        kind=rules.application_kind(p.changes_permit_id),
        changes_permit_no=changes_permit_no,
        valid_from=p.valid_from,
        valid_to=p.valid_to,
        renewal_due=rules.renewal_due(p.valid_to, lead_days) if p.valid_to else None,
        status_reason=p.status_reason,
        cancel_reason=p.cancel_reason,
        prechecks=None
        if p.prechecks is None
        else [precheck_out(Check.of_stored(c)) for c in p.prechecks],
        attention=p.attention or 0,
        version=p.version,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def amounts(kg: dict[str, int]) -> list[PollutantAmount]:
    return [PollutantAmount(pollutant=p, amount_t=kg_to_tonnes(v)) for p, v in kg.items()]


def new_permit(e: Enterprise, pollutants: dict[str, int], now: dt.datetime, **extra: Any) -> Permit:
    """An application (申请) for enterprise `e`."""
    return Permit(
        id=str(uuid.uuid4()),
        uscc=e.uscc,
        district=e.district,
        industry_code=e.industry_code,
        category=e.category,
        status="applied",
        last_action="apply",
        pollutants=pollutants,
        vocs_kg=pollutants.get(rules.VOCS, 0),
        quota_drawn_kg=0,
        version=1,
        created_at=now,
        updated_at=now,
        **extra,
    )


def refuse_if_closed(e: Enterprise) -> None:
    """A closed enterprise (关停) applies for, is issued and renews no permit."""
    if e.operating_status == "closed":
        raise Conflict(
            msg(
                f"enterprise {e.uscc} is closed: it takes no permit",
                f"企业 {e.uscc} 已关停，不能申领、核发或延续许可证",
            ),
            errors=[FieldError(field="uscc", message=closed_message())],
        )


async def refuse_if_registered(s: AsyncSession, e: Enterprise) -> None:
    """An enterprise with a registration in force (排污登记) applies for and
    is issued no permit: it is covered by one or the other, never both."""
    registered = (await active_numbers(s, [e.uscc])).get(e.uscc)
    if registered:
        message = holds_registration_message(registered)
        raise Conflict(
            msg(f"enterprise {e.uscc} ", f"企业 {e.uscc} ") + message,
            registration_no=registered,
            errors=[FieldError(field="uscc", message=message)],
        )


async def apply(
    db: Database,
    principal: Principal,
    body: PermitApplication,
    now: dt.datetime,
    owed_from: dt.date | None = None,
) -> PermitOut:
    """Accept an application, or refuse it (an error naming `uscc`); one
    accepted keeps its advisory pre-acceptance checks (prechecks)."""
    async with db.transaction() as s:
        e = await s.get(Enterprise, body.uscc)
        # Another district's enterprise is answered as one not here (a 403
        # naming its district would tell that the code exists, and where).
        if e is None or not principal.may_act_in(e.district):
            raise field_error("uscc", unknown_here_message())
        refuse_if_closed(e)
        if not needs_permit(e.category):
            raise field_error("uscc", registration_management_message())
        await refuse_if_registered(s, e)
        amounts = limits_to_kg(body.pollutants)
        p = new_permit(e, amounts, now, project_ref=body.project_ref)
        await prechecks.stamp(s, p, e, now, owed_from)
        s.add(p)
        record_audit(s, principal, "permit.apply", "permit", p.id, body.model_dump(mode="json"))
    return to_out(p, e.name)


async def _locked(
    s: AsyncSession, principal: Principal, permit_id: str, action: str
) -> tuple[Permit, Enterprise, str]:
    """The permit and its enterprise, locked for this transaction (on SQLite the
    writer lock already serialises), and the status `action` leads to."""
    p = await _lock_permit(s, principal, permit_id)
    after = rules.next_status(p.status, action)
    return p, await _lock_enterprise(s, p.uscc), after


async def _lock_permit(s: AsyncSession, principal: Principal, permit_id: str) -> Permit:
    """Locks in one order: the permits a step writes first, then their
    enterprise (`_lock_enterprise`)."""
    p = (
        await s.scalars(select(Permit).where(Permit.id == permit_id).with_for_update())
    ).one_or_none()
    return principal.found(p, no_permit(permit_id))


async def _lock_enterprise(s: AsyncSession, uscc: str) -> Enterprise:
    # Locking the enterprise serialises every quota draw of one enterprise.
    return (
        await s.scalars(select(Enterprise).where(Enterprise.uscc == uscc).with_for_update())
    ).one()


async def changes_permit_no(s: AsyncSession, p: Permit) -> str | None:
    """The number of the permit application `p` changes, if it is a change."""
    if p.changes_permit_id is None:
        return None
    return await s.scalar(select(Permit.permit_no).where(Permit.id == p.changes_permit_id))


def step(
    s: AsyncSession,
    principal: Principal,
    p: Permit,
    action: str,
    after: str,
    now: dt.datetime,
    detail: dict[str, Any],
) -> None:
    before = p.status
    p.status, p.last_action, p.updated_at = after, action, now
    p.version += 1
    record_audit(
        s, principal, f"permit.{action}", "permit", p.id, {"from": before, "to": after, **detail}
    )


async def _require_backing(
    s: AsyncSession, p: Permit, increase_kg: int, project_ref: str | None
) -> dict[str, Any]:
    """Draw `increase_kg` of VOCs for permit `p` on the enterprise's
    allocated quota (its project `project_ref`'s among it), or 409; what
    the audit entry of the draw records (allocations it claimed)."""
    allocated, drawn, claimed = await backing_kg(s, p.uscc, p.district, project_ref, increase_kg)
    missing = rules.quota_missing_kg(increase_kg, allocated, drawn)
    if missing:
        raise Conflict(
            msg(
                f"total-quantity control: a VOCs increase of {kg_to_tonnes(increase_kg)} t/a "
                f"needs allocated quota; {kg_to_tonnes(missing)} t/a is missing",
                f"总量控制：VOCs 增加 {kg_to_tonnes(increase_kg)} 吨/年需要已分配的总量指标，"
                f"尚缺 {kg_to_tonnes(missing)} 吨/年",
            ),
            missing_t=str(kg_to_tonnes(missing)),
            required_t=str(kg_to_tonnes(increase_kg)),
            available_t=str(kg_to_tonnes(max(0, allocated - drawn))),
        )
    p.quota_drawn_kg += increase_kg
    return {"quota_claimed": claimed} if claimed else {}


async def next_sequence(s: AsyncSession, column: Any, uscc_column: Any, uscc: str) -> int:
    """The next 3-digit sequence of an enterprise's numbers (max in use + 1)."""
    numbers = (await s.scalars(select(column).where(uscc_column == uscc))).all()
    used = [int(n[18:21]) for n in numbers if n]
    return max(used, default=0) + 1


async def issue(
    db: Database, principal: Principal, permit_id: str, settings: Settings, now: dt.datetime
) -> PermitOut:
    """Issue an application (核发); a change application (变更申请) is merged
    into the permit it changes instead (核准变更, `merge`)."""
    async with db.transaction() as s:
        p = await _lock_permit(s, principal, permit_id)
        target = await _change_target(s, p)
        if target is not None:
            return await merge(s, principal, p, target, settings, now)
        after = rules.next_status(p.status, "issue")
        e = await _lock_enterprise(s, p.uscc)
        refuse_if_closed(e)
        await refuse_if_registered(s, e)
        other = await s.scalar(
            select(Permit.permit_no).where(
                Permit.uscc == p.uscc, Permit.status.in_(rules.IN_FORCE), Permit.id != p.id
            )
        )
        if other:
            raise Conflict(
                msg(
                    f"enterprise {p.uscc} already holds permit {other} (one permit per "
                    "enterprise, 一证式): change that permit instead",
                    f"企业 {p.uscc} 已持有排污许可证 {other}（一企一证）：请变更该许可证",
                ),
                permit_no=other,
            )
        drew = await _require_backing(s, p, p.vocs_kg, p.project_ref)
        p.permit_no = rules.permit_number(
            p.uscc, await next_sequence(s, Permit.permit_no, Permit.uscc, p.uscc)
        )
        p.valid_from, p.valid_to = rules.term(local_today(now), settings.permit_term_years)
        p.in_force_from = p.valid_from
        step(s, principal, p, "issue", after, now, {"permit_no": p.permit_no, **drew})
        outbox.emit(s, issued_event(p, e))
    return to_out(p, e.name, settings.renewal_lead_days)


async def _change_target(s: AsyncSession, p: Permit) -> Permit | None:
    """The permit application `p` (locked) is issued as a change of, locked
    after it: the one it was drafted to change; or, drafted as new from an
    approved filing, the permit the enterprise has come to hold in force
    since (two filings of a new enterprise approved one after the other).
    None: `p` is issued as a permit of its own (an application made directly
    carries full amounts, not increments: it keeps its 409 when the
    enterprise holds a permit already)."""
    if p.status != "applied":
        return None
    if p.changes_permit_id is not None:
        q = select(Permit).where(Permit.id == p.changes_permit_id)
    elif p.source_filing_id is not None:
        q = (
            select(Permit)
            .where(Permit.uscc == p.uscc, Permit.status.in_(rules.IN_FORCE), Permit.id != p.id)
            .order_by(Permit.created_at, Permit.id)
            .limit(1)
        )
    else:
        return None
    return (await s.scalars(q.with_for_update())).first()


async def merge(
    s: AsyncSession,
    principal: Principal,
    a: Permit,
    x: Permit,
    settings: Settings,
    now: dt.datetime,
) -> PermitOut:
    """Approve change application `a` (核准变更) into permit `x`, both locked:
    `x` takes its amounts plus `a`'s increments, drawing the VOCs increase
    on the quota of `a`'s project as a change draws it, audited and
    announced as a change (permit.changed); `a` ends `merged`, naming `x`."""
    after = rules.next_status(a.status, "merge")
    e = await _lock_enterprise(s, a.uscc)
    refuse_if_closed(e)
    assert x.permit_no
    if refusal := rules.merge_refusal(x.permit_no, x.status):
        raise Conflict(refusal, permit_no=x.permit_no, state=x.status)
    new = rules.merged_amounts(x.pollutants, a.pollutants)
    changes = rules.amount_changes(x.pollutants, new)
    vocs_delta = new.get(rules.VOCS, 0) - x.vocs_kg
    drew = await _require_backing(s, x, vocs_delta, a.project_ref) if vocs_delta > 0 else {}
    a.changes_permit_id = x.id
    if changes:
        reason = f"核准变更：并入许可申请 {a.id}（建设项目 {a.project_ref}）"
        x.pollutants, x.vocs_kg, x.status_reason = new, new.get(rules.VOCS, 0), reason
        detail = {"vocs_delta_kg": vocs_delta, "application_id": a.id, **drew}
        step(s, principal, x, "change", rules.next_status(x.status, "change"), now, detail)
        outbox.emit(s, changed_event(x, e, changes, vocs_delta, reason, principal.sub))
    step(s, principal, a, "merge", after, now, {"permit_no": x.permit_no, "permit_id": x.id})
    return to_out(a, e.name, settings.renewal_lead_days, x.permit_no)


def changed_event(
    p: Permit,
    e: Enterprise,
    changes: list[rules.AmountChange],
    vocs_delta_kg: int,
    reason: str | None,
    actor: str,
) -> ev.PermitChanged:
    assert p.permit_no
    return ev.PermitChanged(
        permit_id=p.id,
        permit_no=p.permit_no,
        uscc=p.uscc,
        enterprise_name=e.name,
        district=p.district,
        pollutant_changes=[
            PollutantChange(
                pollutant=c.pollutant,
                before_t=kg_to_tonnes(c.before_kg),
                after_t=kg_to_tonnes(c.after_kg),
                delta_t=kg_to_tonnes(c.delta_kg),
            )
            for c in changes
        ],
        vocs_delta_t=kg_to_tonnes(vocs_delta_kg),
        reason=reason,
        actor=actor,
    )


def issued_event(p: Permit, e: Enterprise) -> ev.PermitIssued:
    assert p.permit_no and p.valid_from and p.valid_to
    return ev.PermitIssued(
        permit_id=p.id,
        permit_no=p.permit_no,
        uscc=p.uscc,
        enterprise_name=e.name,
        district=p.district,
        industry_code=p.industry_code,
        category=p.category,
        pollutants=amounts(p.pollutants),
        valid_from=p.valid_from,
        valid_to=p.valid_to,
        project_ref=p.project_ref,
    )


async def change(
    db: Database,
    principal: Principal,
    permit_id: str,
    body: PermitChange,
    settings: Settings,
    now: dt.datetime,
) -> PermitOut:
    async with db.transaction() as s:
        p, e, after = await _locked(s, principal, permit_id, "change")
        new = limits_to_kg(body.pollutants)
        changes = rules.amount_changes(p.pollutants, new)
        if not changes:
            raise field_error(
                "pollutants",
                msg(
                    "are the permit's current amounts; nothing changes",
                    "与许可证现有许可量相同，没有变化",
                ),
            )
        vocs_delta = new.get(rules.VOCS, 0) - p.vocs_kg
        drew = await _require_backing(s, p, vocs_delta, p.project_ref) if vocs_delta > 0 else {}
        p.pollutants, p.vocs_kg, p.status_reason = new, new.get(rules.VOCS, 0), body.reason
        step(s, principal, p, "change", after, now, {"vocs_delta_kg": vocs_delta, **drew})
        outbox.emit(s, changed_event(p, e, changes, vocs_delta, body.reason, principal.sub))
    return to_out(p, e.name, settings.renewal_lead_days)


async def renew(
    db: Database, principal: Principal, permit_id: str, settings: Settings, now: dt.datetime
) -> PermitOut:
    async with db.transaction() as s:
        p, e, after = await _locked(s, principal, permit_id, "renew")
        refuse_if_closed(e)
        assert p.valid_to and p.permit_no
        try:
            start, end = rules.renewal_term(
                local_today(now),
                p.valid_to,
                settings.permit_term_years,
                settings.renewal_window_days,
            )
        except ValueError as exc:
            raise Conflict(
                msg(f"cannot renew yet: {exc}", f"暂不能延续：{exc}"),
                valid_to=p.valid_to.isoformat(),
            ) from exc
        p.valid_from, p.valid_to = start, end
        step(s, principal, p, "renew", after, now, {"valid_to": end.isoformat()})
        outbox.emit(
            s,
            ev.PermitRenewed(
                permit_id=p.id,
                permit_no=p.permit_no,
                uscc=p.uscc,
                district=p.district,
                valid_from=start,
                valid_to=end,
            ),
        )
    return to_out(p, e.name, settings.renewal_lead_days)


async def reject(
    db: Database,
    principal: Principal,
    permit_id: str,
    reason: str,
    settings: Settings,
    now: dt.datetime,
) -> PermitOut:
    """Refuse an application (不予许可), saying why: it is decided, draws no
    quota and is never issued; the enterprise may apply again."""
    async with db.transaction() as s:
        p, e, after = await _locked(s, principal, permit_id, "reject")
        p.status_reason = reason
        step(s, principal, p, "reject", after, now, {"reason": reason})
        changes_no = await changes_permit_no(s, p)
    return to_out(p, e.name, settings.renewal_lead_days, changes_no)


async def suspend_reinstate_revoke(
    db: Database,
    principal: Principal,
    permit_id: str,
    action: str,
    reason: str | None,
    settings: Settings,
    now: dt.datetime,
) -> PermitOut:
    """The steps that change only the status and say why."""
    async with db.transaction() as s:
        p, e, after = await _locked(s, principal, permit_id, action)
        status_step(s, principal, p, action, after, reason, now)
    return to_out(p, e.name, settings.renewal_lead_days)


def status_step(
    s: AsyncSession,
    principal: Principal,
    p: Permit,
    action: str,
    after: str,
    reason: str | None,
    now: dt.datetime,
    **detail: Any,
) -> None:
    """Suspend, reinstate or revoke `p` (locked by the caller): status, audit, event."""
    assert p.permit_no
    p.status_reason = reason
    step(s, principal, p, action, after, now, {"reason": reason, **detail})
    common = {"permit_id": p.id, "permit_no": p.permit_no, "uscc": p.uscc}
    payload: ev.EventPayload
    if action == "suspend":
        payload = ev.PermitSuspended(**common, district=p.district, reason=reason or "")
    elif action == "reinstate":
        payload = ev.PermitReinstated(**common, district=p.district, reason=reason)
    else:
        payload = ev.PermitRevoked(**common, district=p.district, reason=reason or "")
    outbox.emit(s, payload)


async def cancel(
    db: Database,
    principal: Principal,
    permit_id: str,
    body: Cancellation,
    settings: Settings,
    now: dt.datetime,
) -> PermitOut:
    """Cancel (注销). The permitted amounts are announced as freed; on closure
    the enterprise is marked closed, so it leaves the coverage count."""
    async with db.transaction() as s:
        p, e, after = await _locked(s, principal, permit_id, "cancel")
        assert p.permit_no
        p.cancel_reason, p.status_reason = body.reason, body.note
        closing = body.reason == "closure" and e.operating_status != "closed"
        if closing:
            e.operating_status, e.updated_at = "closed", now
        step(s, principal, p, "cancel", after, now, {"reason": body.reason, "note": body.note})
        outbox.emit(
            s,
            ev.PermitCancelled(
                permit_id=p.id,
                permit_no=p.permit_no,
                uscc=p.uscc,
                enterprise_name=e.name,
                district=p.district,
                reason=body.reason,
                note=body.note,
                pollutants_freed=amounts(p.pollutants),
                vocs_freed_t=kg_to_tonnes(p.vocs_kg),
                actor=principal.sub,
            ),
        )
        if closing:
            outbox.emit(
                s, ev.EnterpriseClosed(**snapshot(e), reason=body.note or "permit cancelled")
            )
    return to_out(p, e.name, settings.renewal_lead_days)
