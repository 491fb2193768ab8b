"""Advances and their repayment. An advance credits the district pool with
an advance lot (journal code `advance`) and records a debt; every later
credit to that pool first repays open debts, oldest first (code `repay`),
its lot's tonnes moving to the advance lot they replace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import audit_row, record_audit
from svc_common.auth import Principal
from svc_common.context import new_id
from svc_common.db import DriverStatement, by_name, in_chunks
from svc_common.types import utcnow

from quota_svc.debts import rules
from quota_svc.debts.models import AdvanceLimit, Debt
from quota_svc.debts.rules import DebtStatus
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import EntryCode, PoolKind
from quota_svc.ledger.service import Postings, post_entry
from quota_svc.lots import service as lots
from quota_svc.lots.models import LOTS
from quota_svc.lots.rules import Draws, Move
from quota_svc.register import service as register

DEBTS = cast(Table, Debt.__table__)
#: A debt's outstanding kilograms, in SQL (rules.outstanding).
_LEFT = Debt.amount_kg - Debt.repaid_kg - Debt.withdrawn_kg


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
    # By chunks of ids: a ledger may hold more pools than one statement takes.
    rows = [
        row
        for chunk in in_chunks(pool_ids)
        for row in await s.execute(
            select(Debt.pool_id, _LEFT, Debt.due_at).where(
                Debt.pool_id.in_(chunk), Debt.status == DebtStatus.OPEN.value
            )
        )
    ]
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
    left = [rules.outstanding(d.amount_kg, d.repaid_kg, d.withdrawn_kg) for d in debts]
    outstanding = sum(left)
    overdue = sum(n for d, n in zip(debts, left, strict=True) if rules.is_overdue(d.due_at, n, now))
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
        withdrawn_kg=0,
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
        # A part withdrawn with its hold is owed no more: never repaid.
        r = min(left, rules.outstanding(debt.amount_kg, debt.repaid_kg, debt.withdrawn_kg))
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
        if rules.outstanding(debt.amount_kg, debt.repaid_kg, debt.withdrawn_kg) == 0:
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
            select(func.coalesce(func.sum(_LEFT), 0)).where(Debt.status == DebtStatus.OPEN.value)
        )
        or 0
    )


# --- an advance withdrawn with its hold -----------------------------------------
# A reservation an advance was granted for (先用后补) may be released, wholly
# (by hand, by a filing's decision, at expiry) or in part (the remainder of a
# partial allocation). The advance credited exactly its shortfall: what the
# release gives back to the advance lot goes out of the pool again, and the
# debt owes that much less (closed `withdrawn` when nothing is left). These
# run on the reservation paths' Core writes, with the pool locked (as every
# repayment is), so the debts need no lock of their own.

_DEBT_COLUMNS = (
    DEBTS.c.id,
    DEBTS.c.reservation_id,
    DEBTS.c.lot_id,
    DEBTS.c.amount_kg,
    DEBTS.c.repaid_kg,
    DEBTS.c.withdrawn_kg,
)

#: The open debt of one reservation (at most one: one advance per hold).
_OPEN_DEBT_OF_RESERVATION = DriverStatement(
    select(*_DEBT_COLUMNS).where(
        DEBTS.c.pool_id == bindparam("pool_id"),
        DEBTS.c.status == DebtStatus.OPEN.value,
        DEBTS.c.reservation_id == bindparam("rid"),
    )
)


async def open_debts_of_reservations(
    conn: Any, reservations: Sequence[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """The open debts of reservations given as (pool id, reservation id),
    by reservation id. One reservation: one DriverStatement (it may run on
    the driver, in a pool's batch); several (an expiry sweep): one Core
    statement."""
    if not reservations:
        return {}
    if len(reservations) == 1:
        pool_id, rid = reservations[0]
        rows = await _OPEN_DEBT_OF_RESERVATION.fetch_in(conn, {"pool_id": pool_id, "rid": rid})
    else:
        rows = (
            await conn.execute(
                select(*_DEBT_COLUMNS).where(
                    DEBTS.c.pool_id.in_(sorted({p for p, _ in reservations})),
                    DEBTS.c.status == DebtStatus.OPEN.value,
                    DEBTS.c.reservation_id.in_(sorted({r for _, r in reservations})),
                )
            )
        ).all()
    found = [dict(by_name(row)) for row in rows]
    return {d["reservation_id"]: d for d in found}


def stage_withdrawal(
    postings: Postings,
    debt: dict[str, Any],
    *,
    pool_id: str,
    reservation_id: str,
    project_ref: str,
    returned: Iterable[tuple[int, int]] | Draws,
    actor: Principal,
) -> tuple[list[tuple[int, Move, int]], dict[str, Any], dict[str, Any]] | None:
    """Withdraw what a release of `reservation_id` gave back to its debt's
    advance lot (`returned`: the lots the released tonnes went back to), at
    most what the debt still owes: a journal entry `advance_withdrawn`
    (−credited) posted on `postings` (the pool's balance checked in code),
    and, for the caller to stage, (the lot change, the debt's new columns,
    the audit row). None if nothing is withdrawn."""
    back = sum(kg for lot, kg in returned if lot == debt["lot_id"])
    left = rules.outstanding(debt["amount_kg"], debt["repaid_kg"], debt["withdrawn_kg"])
    kg = rules.withdrawable(left, back)
    if kg <= 0:
        return None
    ref = f"debt:{debt['id']}"
    postings.post(
        pool_id,
        EntryCode.ADVANCE_WITHDRAWN,
        kg,
        idempotency_id=f"{ref}:withdrawn:{reservation_id}",
        actor=actor.sub,
        reservation_id=reservation_id,
        reason="withdrawn",
        note=project_ref,
        ref=ref,
    )
    withdrawn = debt["withdrawn_kg"] + kg
    closed = rules.outstanding(debt["amount_kg"], debt["repaid_kg"], withdrawn) == 0
    status = DebtStatus.WITHDRAWN if closed else DebtStatus.OPEN
    row = {"id": debt["id"], "withdrawn_kg": withdrawn, "status": status.value}
    audit = audit_row(
        actor,
        "quota.debt.withdraw",
        "debt",
        debt["id"],
        {"amount_kg": kg, "reservation_id": reservation_id, "status": status.value},
    )
    return [(debt["lot_id"], Move.WITHDRAW, kg)], row, audit
