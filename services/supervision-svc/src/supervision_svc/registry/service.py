"""Learning the register from permit-svc's events, and reading it. Every
handler is idempotent by its business key (the USCC or permit id) besides
the inbox: applying an event twice leaves the same row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import in_chunks
from svc_common.events.envelope import Envelope
from svc_common.events.schemas import permit as ev
from svc_common.events.schemas.common import PollutantAmount
from svc_common.types import tonnes_to_kg, utcnow

from supervision_svc.registry import rules
from supervision_svc.registry.models import Enterprise, Permit

log = structlog.get_logger(__name__)


async def learn_snapshot(s: AsyncSession, snap: ev.EnterpriseSnapshot) -> None:
    """One enterprise's snapshot: learned as a batch of one, so a single
    event and a bulk import write the register by the same rule."""
    await learn_snapshots(s, [snap])


async def on_enterprise(s: AsyncSession, payload: ev.EnterpriseSnapshot, env: Envelope) -> None:
    await learn_snapshot(s, payload)


async def learn_snapshots(s: AsyncSession, snaps: list[ev.EnterpriseSnapshot]) -> None:
    """`learn_snapshot` for a whole batch in a few set-based statements (one
    SELECT … IN per chunk, one multi-row INSERT, one UPDATE by primary key
    for many) instead of a read and a write per enterprise: an import of
    thousands of enterprises is one event. A USCC repeated in the batch is
    taken as the single snapshots would be, the later one winning."""
    latest: dict[str, ev.EnterpriseSnapshot] = {}
    for snap in snaps:
        if (kept := latest.get(snap.uscc)) is None or rules.newer(snap.updated_at, kept.updated_at):
            latest[snap.uscc] = snap
    usccs = list(latest)
    known: dict[str, dt.datetime | None] = {}
    for chunk in in_chunks(usccs):
        q = select(Enterprise.uscc, Enterprise.source_updated_at).where(Enterprise.uscc.in_(chunk))
        known.update((u, at) for u, at in (await s.execute(q)).all())
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for uscc, snap in latest.items():
        values = {
            "uscc": uscc,
            "name": snap.name,
            "district": snap.district,
            "industry_code": snap.industry_code,
            "category": snap.category,
            "operating_status": snap.operating_status,
            "address": snap.address,
            "source_updated_at": snap.updated_at,
        }
        if uscc not in known:
            inserts.append({**values, "learned_at": now})
        elif rules.newer(snap.updated_at, known[uscc]):
            updates.append(values)
    if inserts:
        await s.execute(insert(Enterprise), inserts)
    # Rows the session already holds are changed through their objects (so
    # they stay true); the rest by one statement that bypasses the session.
    by_statement = []
    for values in updates:
        held = s.identity_map.get(s.sync_session.identity_key(Enterprise, values["uscc"]))
        if isinstance(held, Enterprise):
            for k, v in values.items():
                setattr(held, k, v)
        else:
            by_statement.append(values)
    if by_statement:
        await s.execute(update(Enterprise), by_statement)


async def on_enterprises_imported(
    s: AsyncSession, payload: ev.EnterprisesImported, env: Envelope
) -> None:
    await learn_snapshots(s, payload.snapshots())


async def _known(
    s: AsyncSession, uscc: str, name: str, district: str, industry: str, category: str | None
) -> Enterprise:
    """The enterprise, created from a permit or registration event if the
    register has not announced it (yet): any later snapshot replaces this."""
    e = await s.get(Enterprise, uscc)
    if e is None:
        e = Enterprise(
            uscc=uscc,
            name=name,
            district=district,
            industry_code=industry[:8],
            category=category,
            operating_status="operating",
            address="",
            source_updated_at=None,
            learned_at=utcnow(),
        )
        s.add(e)
    return e


def _amounts(items: list[PollutantAmount]) -> dict[str, int]:
    return {a.pollutant: tonnes_to_kg(a.amount_t) for a in items}


def _set_amounts(p: Permit, pollutants: dict[str, int]) -> None:
    p.pollutants = pollutants
    p.vocs_kg = pollutants.get(rules.VOCS, 0)
    p.nox_kg = pollutants.get(rules.NOX, 0)


async def on_permit_issued(s: AsyncSession, payload: ev.PermitIssued, env: Envelope) -> None:
    await _known(
        s,
        payload.uscc,
        payload.enterprise_name,
        payload.district,
        payload.industry_code,
        payload.category,
    )
    p = await s.get(Permit, payload.permit_id)
    if p is None:
        p = Permit(permit_id=payload.permit_id, uscc=payload.uscc, pollutants={})
        s.add(p)
    p.permit_no, p.district, p.status = payload.permit_no, payload.district, "issued"
    # A renewal (延续) continues the permit: its new term may start weeks
    # ahead (the day after the old one ends), and until then the old term
    # holds. So the permit stays in force from its first day, as permit-svc
    # keeps `in_force_from`, not from the new term's.
    start = payload.valid_from if p.valid_from is None else min(p.valid_from, payload.valid_from)
    p.valid_from, p.valid_to, p.updated_at = start, payload.valid_to, utcnow()
    _set_amounts(p, _amounts(payload.pollutants))


async def _permit(s: AsyncSession, permit_id: str, env: Envelope) -> Permit | None:
    p = await s.get(Permit, permit_id)
    if p is None:
        # Its issue predates this service's subscription: nothing to update.
        log.info("event of a permit never seen issued", permit_id=permit_id, type=env.type)
    return p


async def on_permit_changed(s: AsyncSession, payload: ev.PermitChanged, env: Envelope) -> None:
    if (p := await _permit(s, payload.permit_id, env)) is None:
        return
    pollutants = dict(p.pollutants)
    for c in payload.pollutant_changes:
        kg = tonnes_to_kg(c.after_t)
        if kg:
            pollutants[c.pollutant] = kg
        else:
            pollutants.pop(c.pollutant, None)
    _set_amounts(p, pollutants)
    p.updated_at = utcnow()


async def on_permit_renewed(s: AsyncSession, payload: ev.PermitRenewed, env: Envelope) -> None:
    if (p := await _permit(s, payload.permit_id, env)) is None:
        return
    # A renewal (延续) continues the permit: its new term may start weeks
    # ahead (the day after the old one ends), and until then the old term
    # holds. So the permit stays in force from its first day, as permit-svc
    # keeps `in_force_from`, not from the new term's.
    start = payload.valid_from if p.valid_from is None else min(p.valid_from, payload.valid_from)
    p.valid_from, p.valid_to, p.updated_at = start, payload.valid_to, utcnow()


_STATUS_OF: dict[type[Any], str] = {
    ev.PermitSuspended: "suspended",
    ev.PermitReinstated: "issued",
    ev.PermitRevoked: "revoked",
    ev.PermitCancelled: "cancelled",
    ev.PermitExpired: "expired",
}


async def on_permit_status(s: AsyncSession, payload: Any, env: Envelope) -> None:
    if (p := await _permit(s, payload.permit_id, env)) is None:
        return
    p.status = _STATUS_OF[type(payload)]
    reason = getattr(payload, "reason", None)
    p.status_reason = str(reason)[:500] if reason else None
    p.updated_at = utcnow()


async def on_registration_filed(
    s: AsyncSession, payload: ev.RegistrationFiled, env: Envelope
) -> None:
    e = await _known(
        s,
        payload.uscc,
        payload.enterprise_name,
        payload.district,
        payload.industry_code,
        "registration",
    )
    e.registration_valid_to = payload.valid_to


async def on_registration_ended(s: AsyncSession, payload: Any, env: Envelope) -> None:
    e = await s.get(Enterprise, payload.uscc)
    if e is not None:
        e.registration_valid_to = None


# ---------------------------------------------------------------- reads


async def enterprise(s: AsyncSession, uscc: str) -> Enterprise | None:
    return await s.get(Enterprise, uscc)


async def permits_of(s: AsyncSession, uscc: str) -> list[Permit]:
    return (await permits_of_many(s, [uscc]))[uscc]


async def permits_of_many(s: AsyncSession, usccs: list[str]) -> dict[str, list[Permit]]:
    """The permits of each enterprise (newest first), for a page of the register."""
    out: dict[str, list[Permit]] = {u: [] for u in usccs}
    if usccs:
        q = select(Permit).where(Permit.uscc.in_(usccs)).order_by(Permit.updated_at.desc())
        for p in (await s.scalars(q)).all():
            out[p.uscc].append(p)
    return out


async def permit_in_force(s: AsyncSession, uscc: str, day: dt.date) -> Permit | None:
    """The enterprise's permit in force on `day` (one per enterprise: 一证式)."""
    for p in await permits_of(s, uscc):
        if rules.permit_valid_on(p.status, p.valid_from, p.valid_to, day):
            return p
    return None
