"""Registration filing (single and bulk), change, cancellation and expiry."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import Conflict, FieldError, Unprocessable, field_error
from svc_common.events.schemas import permit as ev
from svc_common.i18n import msg

from permit_svc.bulk import chunks
from permit_svc.calendar import local_today
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import (
    CATEGORY_ZH,
    closed_message,
    holds_permit_message,
    needs_permit,
)
from permit_svc.missing import no_registration
from permit_svc.permits.models import Permit
from permit_svc.permits.rules import IN_FORCE, registration_number, term
from permit_svc.registrations import rules
from permit_svc.registrations.models import Registration
from permit_svc.registrations.schemas import (
    RegistrationCancellation,
    RegistrationChange,
    RegistrationFiling,
    RegistrationOut,
)


def to_out(r: Registration, enterprise_name: str) -> RegistrationOut:
    return RegistrationOut(
        id=r.id,
        registration_no=r.registration_no,
        uscc=r.uscc,
        enterprise_name=enterprise_name,
        district=r.district,
        industry_code=r.industry_code,
        status=r.status,
        allowed_actions=rules.allowed_actions(r.status),
        details=r.details,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        status_reason=r.status_reason,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def eligibility(e: Enterprise | None, principal: Principal) -> list[FieldError]:
    """Why enterprise `e` may not file a registration now (empty: it may).
    Outside the caller's districts, as if it were not here
    (`Principal.require_found`): nothing about the enterprise (that it
    exists, closed, its management) is told to whom may not act there."""
    if e is None or not principal.may_act_in(e.district):
        return [
            FieldError(
                field="uscc",
                message=msg("no enterprise has this code here", "本系统没有该代码的企业"),
            )
        ]
    if e.operating_status == "closed":
        return [FieldError(field="uscc", message=closed_message())]
    if needs_permit(e.category):
        return [
            FieldError(
                field="uscc",
                message=msg(
                    f"the enterprise's industry is under {e.category} management: "
                    "it needs a permit, not a registration",
                    f"该企业所属行业实行{CATEGORY_ZH.get(e.category, e.category)}："
                    "应申领排污许可证，不能排污登记",
                ),
            )
        ]
    return []


def in_force_error(registration_no: str) -> FieldError:
    """A bulk row's refusal: its enterprise has a registration in force."""
    return FieldError(
        field="uscc",
        message=msg(
            f"already has registration {registration_no} in force",
            f"已有在有效期内的排污登记 {registration_no}",
        ),
    )


def holds_permit_error(permit_no: str) -> FieldError:
    """A bulk row's refusal: its enterprise holds a permit in force."""
    return FieldError(field="uscc", message=holds_permit_message(permit_no))


async def permits_in_force(s: AsyncSession, usccs: list[str]) -> dict[str, str]:
    """The number of each enterprise's permit in force (issued or suspended):
    such an enterprise is covered by it and files no registration."""
    found: dict[str, str] = {}
    for chunk in chunks(usccs):
        q = select(Permit.uscc, Permit.permit_no).where(
            Permit.uscc.in_(chunk), Permit.status.in_(IN_FORCE)
        )
        found.update({uscc: no for uscc, no in await s.execute(q) if no})
    return found


async def active_numbers(s: AsyncSession, usccs: list[str]) -> dict[str, str]:
    """The number of each enterprise's registration in force."""
    found: dict[str, str] = {}
    for chunk in chunks(usccs):
        q = select(Registration.uscc, Registration.registration_no).where(
            Registration.uscc.in_(chunk), Registration.status == "active"
        )
        found.update({uscc: no for uscc, no in await s.execute(q)})
    return found


class Filing:
    """Numbers and terms for a batch of filings, from what is on the register."""

    def __init__(self, today: dt.date, years: int) -> None:
        self.today, self.years = today, years
        self.active: dict[str, str] = {}
        self.sequences: dict[str, int] = {}

    async def load(self, s: AsyncSession, usccs: list[str]) -> None:
        for chunk in chunks(usccs):
            q = select(Registration.uscc, Registration.status, Registration.registration_no)
            for uscc, status, no in await s.execute(q.where(Registration.uscc.in_(chunk))):
                if status == "active":
                    self.active[uscc] = no
                self.sequences[uscc] = max(self.sequences.get(uscc, 0), int(no[18:21]))

    def record(self, e: Enterprise, details: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        seq = self.sequences.get(e.uscc, 0) + 1
        self.sequences[e.uscc] = seq
        start, end = term(self.today, self.years)
        no = registration_number(e.uscc, seq)
        self.active[e.uscc] = no
        return {
            "id": str(uuid.uuid4()),
            "registration_no": no,
            "uscc": e.uscc,
            "district": e.district,
            "industry_code": e.industry_code,
            "status": "active",
            "details": details,
            "valid_from": start,
            "valid_to": end,
            "status_reason": None,
            "created_at": now,
            "updated_at": now,
        }


def filed_event(rec: dict[str, Any], e: Enterprise) -> ev.RegistrationFiled:
    return ev.RegistrationFiled(
        registration_id=rec["id"],
        registration_no=rec["registration_no"],
        uscc=e.uscc,
        enterprise_name=e.name,
        district=e.district,
        industry_code=e.industry_code,
        valid_to=rec["valid_to"],
    )


async def file(
    db: Database, principal: Principal, body: RegistrationFiling, years: int, now: dt.datetime
) -> RegistrationOut:
    async with db.transaction() as s:
        # Locked, as issuing a permit locks its enterprise: of a filing and
        # an issue for one enterprise at once, the second sees the first's.
        e = (
            await s.scalars(
                select(Enterprise).where(Enterprise.uscc == body.uscc).with_for_update()
            )
        ).one_or_none()
        errors = eligibility(e, principal)
        if errors:
            raise Unprocessable(f"uscc: {errors[0].message}", errors=errors)
        assert e is not None
        filing = Filing(local_today(now), years)
        await filing.load(s, [e.uscc])
        if e.uscc in filing.active:
            raise Conflict(
                msg(
                    f"enterprise {e.uscc} already has registration "
                    f"{filing.active[e.uscc]} in force",
                    f"企业 {e.uscc} 已有有效的排污登记 {filing.active[e.uscc]}",
                ),
                registration_no=filing.active[e.uscc],
            )
        held = (await permits_in_force(s, [e.uscc])).get(e.uscc)
        if held:
            raise Conflict(
                msg(f"enterprise {e.uscc} ", f"企业 {e.uscc} ") + holds_permit_message(held),
                permit_no=held,
                errors=[holds_permit_error(held)],
            )
        rec = filing.record(e, body.details, now)
        reg = Registration(**rec)
        s.add(reg)
        outbox.emit(s, filed_event(rec, e))
        record_audit(s, principal, "registration.file", "registration", rec["id"], {"uscc": e.uscc})
    return to_out(reg, e.name)


async def _locked(
    s: AsyncSession, principal: Principal, registration_id: str, action: str
) -> tuple[Registration, str, str]:
    r = (
        await s.scalars(
            select(Registration).where(Registration.id == registration_id).with_for_update()
        )
    ).one_or_none()
    r = principal.found(r, no_registration(registration_id))
    after = rules.next_status(r.status, action)
    name = await s.scalar(select(Enterprise.name).where(Enterprise.uscc == r.uscc))
    return r, after, name or ""


async def change(
    db: Database,
    principal: Principal,
    registration_id: str,
    body: RegistrationChange,
    now: dt.datetime,
) -> RegistrationOut:
    async with db.transaction() as s:
        r, after, name = await _locked(s, principal, registration_id, "change")
        if rules.changes_nothing(r.details, body.details):
            raise field_error(
                "details",
                msg(
                    "are the registration's current details; nothing changes",
                    "与排污登记现有内容相同，没有变化",
                ),
            )
        r.details, r.status, r.status_reason, r.updated_at = body.details, after, body.reason, now
        record_audit(
            s, principal, "registration.change", "registration", r.id, {"reason": body.reason}
        )
        outbox.emit(
            s,
            ev.RegistrationChanged(
                registration_id=r.id,
                registration_no=r.registration_no,
                uscc=r.uscc,
                district=r.district,
                reason=body.reason,
            ),
        )
    return to_out(r, name)


async def cancel(
    db: Database,
    principal: Principal,
    registration_id: str,
    body: RegistrationCancellation,
    now: dt.datetime,
) -> RegistrationOut:
    async with db.transaction() as s:
        r, after, name = await _locked(s, principal, registration_id, "cancel")
        r.status, r.status_reason, r.updated_at = after, body.reason, now
        record_audit(
            s, principal, "registration.cancel", "registration", r.id, {"reason": body.reason}
        )
        outbox.emit(
            s,
            ev.RegistrationCancelled(
                registration_id=r.id,
                registration_no=r.registration_no,
                uscc=r.uscc,
                district=r.district,
                reason=body.reason,
            ),
        )
    return to_out(r, name)


async def expire_due(db: Database, now: dt.datetime, batch: int = 500) -> int:
    """Statutory clock: registrations past their valid-to date expire, with an event."""
    today = local_today(now)
    total = 0
    while True:
        async with db.transaction() as s:
            due = (
                await s.scalars(
                    select(Registration)
                    .where(Registration.status == "active", Registration.valid_to < today)
                    .order_by(Registration.valid_to)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for r in due:
                r.status, r.updated_at = rules.next_status(r.status, "expire"), now
                record_audit(s, SYSTEM, "registration.expire", "registration", r.id, {})
                outbox.emit(
                    s,
                    ev.RegistrationExpired(
                        registration_id=r.id,
                        registration_no=r.registration_no,
                        uscc=r.uscc,
                        district=r.district,
                        expired_on=r.valid_to + dt.timedelta(days=1),
                    ),
                )
        total += len(due)
        if len(due) < batch:
            return total
