"""Reservation orchestration: reserve (hold), allocate (post), release (void)
and expire (timeout), each one transaction with its journal entries, pool
update, events and audit entry."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.events.schemas.quota import QuotaAllocated, QuotaReleased, QuotaReserved
from svc_common.outbox import emit
from svc_common.types import kg_to_tonnes, utcnow

from quota_svc.ledger import rules as ledger_rules
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import EntryCode, Overdraft
from quota_svc.ledger.service import PoolRef, emit_balance_changed, lock_pools, post_entry
from quota_svc.policy.rules import Policy
from quota_svc.policy.service import policy_in_force
from quota_svc.reservations.models import Reservation
from quota_svc.reservations.rules import LIVE, ReservationStatus, check_action, split_allocation


@dataclass(frozen=True)
class ReserveRequest:
    district: str
    pollutant: str
    increment_kg: int
    project_ref: str
    idempotency_id: str
    uscc: str | None = None
    park_id: str | None = None
    priority_reserve: bool = False
    filing_id: str | None = None
    attempt: int = 1

    def pool(self) -> PoolRef:
        if self.park_id:
            return PoolRef.park(self.district, self.pollutant, self.park_id)
        if self.priority_reserve:
            return PoolRef.reserve(self.district, self.pollutant)
        return PoolRef.district_pool(self.district, self.pollutant)


class ReservationRefused(Exception):
    """The pool cannot hold the need: nothing was written."""

    def __init__(self, req: ReserveRequest, pool_id: str, ratio_h: int, od: Overdraft) -> None:
        super().__init__(str(od))
        self.request = req
        self.pool_id = pool_id
        self.ratio_hundredths = ratio_h
        self.required_kg = od.needed_kg
        self.available_kg = od.available_kg
        self.shortfall_kg = od.shortfall_kg


class ProjectAlreadyReserved(Exception):
    """The project already has a live (held or allocated) reservation."""

    def __init__(self, existing: Reservation) -> None:
        super().__init__(f"project {existing.project_ref} already has reservation {existing.id}")
        self.existing = existing


@dataclass(frozen=True)
class Reserved:
    reservation: Reservation
    created: bool


async def find_live(s: AsyncSession, project_ref: str) -> Reservation | None:
    return await s.scalar(
        select(Reservation).where(
            Reservation.project_ref == project_ref, Reservation.status.in_(list(LIVE))
        )
    )


async def reserve(
    s: AsyncSession, req: ReserveRequest, actor: Principal, default: Policy
) -> Reserved:
    """Hold the project's need (increment × the ratio in force now). Returns the
    existing reservation if this idempotency id already held; raises
    ProjectAlreadyReserved or ReservationRefused (nothing written)."""
    now = utcnow()
    policy = await policy_in_force(s, req.district, req.pollutant, now, default)
    ref = req.pool()
    pool = (await lock_pools(s, ref))[ref.id]
    # Checked under the pool lock, so a concurrent twin sees the first one's row.
    # One round trip for both: this request's earlier hold, or the project's live one.
    found = (
        await s.scalars(
            select(Reservation).where(
                (Reservation.idempotency_id == req.idempotency_id)
                | (
                    (Reservation.project_ref == req.project_ref)
                    & Reservation.status.in_(list(LIVE))
                )
            )
        )
    ).all()
    for r in found:
        if r.idempotency_id == req.idempotency_id:
            return Reserved(r, created=False)
    if found:
        raise ProjectAlreadyReserved(found[0])
    need = ledger_rules.need_kg(req.increment_kg, policy.offset_ratio_hundredths)
    rid = str(uuid.uuid4())
    try:
        post_entry(
            s,
            pool,
            EntryCode.RESERVE,
            need,
            idempotency_id=f"res:{rid}:reserve",
            actor=actor.sub,
            reservation_id=rid,
            note=req.project_ref,
        )
    except Overdraft as od:
        raise ReservationRefused(req, ref.id, policy.offset_ratio_hundredths, od) from od
    r = Reservation(
        id=rid,
        idempotency_id=req.idempotency_id,
        project_ref=req.project_ref,
        uscc=req.uscc,
        filing_id=req.filing_id,
        attempt=req.attempt,
        district=req.district,
        pollutant=req.pollutant,
        pool_id=ref.id,
        increment_kg=req.increment_kg,
        offset_ratio_hundredths=policy.offset_ratio_hundredths,
        held_kg=need,
        allocated_kg=0,
        released_kg=0,
        status=ReservationStatus.HELD.value,
        created_by=actor.sub,
        created_at=now,
        expires_at=policy.expires_at(now),
    )
    s.add(r)
    emit(s, reserved_event(r))
    emit_balance_changed(s, pool, EntryCode.RESERVE)
    record_audit(
        s,
        actor,
        "quota.reserve",
        "reservation",
        rid,
        {"project_ref": req.project_ref, "pool_id": ref.id, "held_kg": need},
    )
    return Reserved(r, created=True)


def reserved_event(r: Reservation) -> QuotaReserved:
    return QuotaReserved(
        reservation_id=r.id,
        project_ref=r.project_ref,
        uscc=r.uscc,
        district=r.district,
        pollutant=r.pollutant,
        pool_id=r.pool_id,
        increment_t=kg_to_tonnes(r.increment_kg),
        offset_ratio=ledger_rules.hundredths_to_ratio(r.offset_ratio_hundredths),
        required_t=kg_to_tonnes(r.held_kg),
        expires_at=r.expires_at,
        attempt=r.attempt,
    )


async def lock_reservation(s: AsyncSession, reservation_id: str) -> Reservation | None:
    return await s.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _pool_ref(r: Reservation) -> PoolRef:
    # The pool exists (the reserve created it); its kind does not matter to lock it.
    return PoolRef(r.pool_id, r.district, r.pollutant, ledger_rules.PoolKind.DISTRICT)


async def allocate(
    s: AsyncSession, r: Reservation, requested_kg: int | None, actor: Principal
) -> Reservation:
    """Post all or part of a locked held reservation; release the remainder in
    the same step. Raises IllegalTransition or AllocationExceedsHold."""
    check_action(r.status, "allocate")
    amount, remainder = split_allocation(r.held_kg, requested_kg)
    pool = (await lock_pools(s, _pool_ref(r)))[r.pool_id]
    post_entry(
        s,
        pool,
        EntryCode.ALLOCATE,
        amount,
        idempotency_id=f"res:{r.id}:allocate",
        actor=actor.sub,
        reservation_id=r.id,
        note=r.project_ref,
    )
    if remainder:
        post_entry(
            s,
            pool,
            EntryCode.RELEASE,
            remainder,
            idempotency_id=f"res:{r.id}:remainder",
            actor=actor.sub,
            reservation_id=r.id,
            reason="remainder",
            note=r.project_ref,
        )
    r.status = ReservationStatus.ALLOCATED.value
    r.allocated_kg, r.released_kg = amount, remainder
    r.release_reason = "remainder" if remainder else None
    r.resolved_at, r.resolved_by = utcnow(), actor.sub
    emit(
        s,
        QuotaAllocated(
            reservation_id=r.id,
            project_ref=r.project_ref,
            uscc=r.uscc,
            district=r.district,
            pollutant=r.pollutant,
            pool_id=r.pool_id,
            amount_t=kg_to_tonnes(amount),
            increment_t=kg_to_tonnes(r.increment_kg),
            offset_ratio=ledger_rules.hundredths_to_ratio(r.offset_ratio_hundredths),
        ),
    )
    if remainder:
        emit(s, released_event(r, remainder, "remainder", None))
    emit_balance_changed(s, pool, EntryCode.ALLOCATE)
    record_audit(
        s,
        actor,
        "quota.allocate",
        "reservation",
        r.id,
        {"allocated_kg": amount, "remainder_kg": remainder},
    )
    return r


def released_event(r: Reservation, amount_kg: int, reason: str, note: str | None) -> QuotaReleased:
    return QuotaReleased(
        reservation_id=r.id,
        project_ref=r.project_ref,
        district=r.district,
        pollutant=r.pollutant,
        pool_id=r.pool_id,
        amount_t=kg_to_tonnes(amount_kg),
        reason=reason,
        note=note,
    )


def release_locked(
    s: AsyncSession,
    r: Reservation,
    pool: Pool,
    *,
    reason: str,
    note: str | None,
    actor: Principal,
    expire: bool = False,
) -> Reservation:
    """Void (or, for the sweeper, time out) a locked held reservation."""
    check_action(r.status, "expire" if expire else "release")
    code = EntryCode.EXPIRE if expire else EntryCode.RELEASE
    post_entry(
        s,
        pool,
        code,
        r.held_kg,
        idempotency_id=f"res:{r.id}:{code.value}",
        actor=actor.sub,
        reservation_id=r.id,
        reason=reason,
        note=note,
    )
    r.status = (ReservationStatus.EXPIRED if expire else ReservationStatus.RELEASED).value
    r.released_kg, r.release_reason, r.note = r.held_kg, reason, note
    r.resolved_at, r.resolved_by = utcnow(), actor.sub
    emit(s, released_event(r, r.held_kg, reason, note))
    emit_balance_changed(s, pool, code)
    record_audit(
        s, actor, f"quota.{code.value}", "reservation", r.id, {"reason": reason, "note": note}
    )
    return r


async def release(
    s: AsyncSession, r: Reservation, *, reason: str, note: str | None, actor: Principal
) -> Reservation:
    check_action(r.status, "release")
    pool = (await lock_pools(s, _pool_ref(r)))[r.pool_id]
    return release_locked(s, r, pool, reason=reason, note=note, actor=actor)


async def expire_due(db: Database, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Expire held reservations past their expiry; returns how many. Safe on
    several replicas: rows are claimed with FOR UPDATE SKIP LOCKED and the
    status is re-checked under the lock."""
    now = now or utcnow()
    total = 0
    while True:
        async with db.transaction() as s:
            due = list(
                (
                    await s.scalars(
                        select(Reservation)
                        .where(
                            Reservation.status == ReservationStatus.HELD.value,
                            Reservation.expires_at <= now,
                        )
                        .order_by(Reservation.id)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                        .execution_options(populate_existing=True)
                    )
                ).all()
            )
            if not due:
                return total
            # All the batch's pools at once, in the one lock order.
            pools = await lock_pools(s, *{_pool_ref(r) for r in due})
            for r in due:
                release_locked(
                    s, r, pools[r.pool_id], reason="expired", note=None, actor=SYSTEM, expire=True
                )
        total += len(due)
        if len(due) < batch:
            return total
