"""Advances and their repayment. An advance credits the district pool with
an advance lot (journal code `advance`) and records a debt; every later
credit to that pool first repays open debts, oldest first (code `repay`),
its lot's tonnes moving to the advance lot they replace."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.context import new_id
from svc_common.types import utcnow

from quota_svc.debts import rules
from quota_svc.debts.models import AdvanceLimit, Debt
from quota_svc.debts.rules import DebtStatus
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import EntryCode, PoolKind
from quota_svc.ledger.service import post_entry
from quota_svc.lots import service as lots
from quota_svc.lots.models import LOTS
from quota_svc.lots.rules import Move
from quota_svc.register import service as register


async def limit_in_force(
    s: AsyncSession, district: str, pollutant: str, default_limit_kg: int, default_term: int
) -> tuple[int, int]:
    row = await s.scalar(
        select(AdvanceLimit)
        .where(AdvanceLimit.district == district, AdvanceLimit.pollutant == pollutant)
        .order_by(AdvanceLimit.id.desc())
        .limit(1)
    )
    return (row.limit_kg, row.term_days) if row else (default_limit_kg, default_term)


async def open_debts(s: AsyncSession, pool_id: str, *, lock: bool = False) -> list[Debt]:
    stmt = (
        select(Debt)
        .where(Debt.pool_id == pool_id, Debt.status == DebtStatus.OPEN.value)
        .order_by(Debt.created_at, Debt.id)
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await s.scalars(stmt)).all())


async def outstanding_by_pool(s: AsyncSession, pool_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(outstanding, overdue) kg per pool."""
    if not pool_ids:
        return {}
    now = utcnow()
    rows = await s.execute(
        select(Debt.pool_id, Debt.amount_kg - Debt.repaid_kg, Debt.due_at).where(
            Debt.pool_id.in_(pool_ids), Debt.status == DebtStatus.OPEN.value
        )
    )
    by_pool: dict[str, list[tuple[int, dt.datetime]]] = {}
    for pool_id, left, due in rows:
        by_pool.setdefault(pool_id, []).append((left, due))
    return {pool_id: rules.owed(debts, now) for pool_id, debts in by_pool.items()}


async def advance(
    s: AsyncSession,
    pool: Pool,
    shortfall_kg: int,
    *,
    reservation_id: str,
    actor: Principal,
    limit_kg: int,
    term_days: int,
) -> Debt:
    """Credit a locked district pool ahead of its offset (raises
    rules.AdvanceRefused): an advance lot and a debt due in `term_days`."""
    debts = await open_debts(s, pool.id, lock=True)
    now = utcnow()
    outstanding = sum(d.amount_kg - d.repaid_kg for d in debts)
    overdue = sum(
        d.amount_kg - d.repaid_kg
        for d in debts
        if rules.is_overdue(d.due_at, d.amount_kg - d.repaid_kg, now)
    )
    rules.check_advance(
        is_district_pool=pool.kind == PoolKind.DISTRICT,
        shortfall_kg=shortfall_kg,
        outstanding_kg=outstanding,
        limit_kg=limit_kg,
        overdue_kg=overdue,
    )
    debt_id = new_id()
    ref = f"debt:{debt_id}"
    post_entry(
        s,
        pool,
        EntryCode.ADVANCE,
        shortfall_kg,
        idempotency_id=f"{ref}:advance",
        actor=actor.sub,
        reservation_id=reservation_id,
        reason="advance",
        ref=ref,
    )
    lot_id = await lots.create_lot(
        s,
        pool_id=pool.id,
        district=pool.district,
        pollutant=pool.pollutant,
        source="advance",
        amount_kg=shortfall_kg,
        ref=ref,
        confirmed_by=actor.sub,
        note="先用后补 advance use",
    )
    debt = Debt(
        id=debt_id,
        district=pool.district,
        pollutant=pool.pollutant,
        pool_id=pool.id,
        reservation_id=reservation_id,
        lot_id=lot_id,
        amount_kg=shortfall_kg,
        repaid_kg=0,
        status=DebtStatus.OPEN.value,
        due_at=rules.due_at(now, term_days),
        approved_by=actor.sub,
        created_at=now,
    )
    s.add(debt)
    register.record(
        s,
        "debt_created",
        district=pool.district,
        pollutant=pool.pollutant,
        amount_kg=shortfall_kg,
        debt=debt_id,
        reservation=reservation_id,
        due=debt.due_at.date().isoformat(),
    )
    record_audit(
        s,
        actor,
        "quota.advance",
        "debt",
        debt_id,
        {"amount_kg": shortfall_kg, "reservation_id": reservation_id},
    )
    return debt


async def repay(
    s: AsyncSession, pool: Pool, credit_lot_id: int, credit_kg: int, actor: Principal
) -> int:
    """Use a new credit lot of a locked district pool to repay its open debts,
    oldest first; returns the kilograms repaid."""
    if pool.kind != PoolKind.DISTRICT:
        return 0
    left = credit_kg
    repaid = 0
    now = utcnow()
    for debt in await open_debts(s, pool.id, lock=True):
        if left <= 0:
            break
        r = min(left, debt.amount_kg - debt.repaid_kg)
        if r <= 0:
            continue
        ref = f"debt:{debt.id}"
        post_entry(
            s,
            pool,
            EntryCode.REPAY,
            r,
            idempotency_id=f"{ref}:repay:{credit_lot_id}",
            actor=actor.sub,
            reason="repay",
            ref=ref,
        )
        await lots.apply(
            s, pool.id, [(credit_lot_id, Move.REPAY, r)], ref=ref, counter_lot_id=debt.lot_id
        )
        await s.execute(
            update(LOTS).where(LOTS.c.id == debt.lot_id).values(repaid_kg=LOTS.c.repaid_kg + r)
        )
        debt.repaid_kg += r
        if debt.repaid_kg == debt.amount_kg:
            debt.status, debt.repaid_at = DebtStatus.REPAID.value, now
        register.record(
            s,
            "debt_repaid",
            district=pool.district,
            pollutant=pool.pollutant,
            amount_kg=r,
            debt=debt.id,
            lot=credit_lot_id,
        )
        record_audit(
            s, actor, "quota.debt.repay", "debt", debt.id, {"amount_kg": r, "lot_id": credit_lot_id}
        )
        left -= r
        repaid += r
    return repaid


async def total_outstanding(s: AsyncSession) -> int:
    return int(
        await s.scalar(
            select(func.coalesce(func.sum(Debt.amount_kg - Debt.repaid_kg), 0)).where(
                Debt.status == DebtStatus.OPEN.value
            )
        )
        or 0
    )
