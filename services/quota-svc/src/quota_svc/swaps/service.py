"""Swap orchestration: propose; approve (the second approval holds the
tonnes in the source pool and starts the delay); cancel (releases the hold);
settle when the delay has passed (a periodic job): the held tonnes leave the
source pool's lots for new lots of the target pool, which then repay the
target district's debts first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.context import new_id
from svc_common.db import Database
from svc_common.types import utcnow

from quota_svc.debts import service as debts
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import EntryCode
from quota_svc.ledger.service import (
    PoolRef,
    balance_of,
    emit_balance_changed,
    lock_pools,
    post_entry,
)
from quota_svc.lots import service as lots
from quota_svc.lots.rules import Move
from quota_svc.register import service as register
from quota_svc.swaps import rules
from quota_svc.swaps.models import Swap
from quota_svc.swaps.rules import SwapStatus


async def propose(
    s: AsyncSession,
    from_district: str,
    to_district: str,
    pollutant: str,
    amount_kg: int,
    reason: str,
    actor: Principal,
) -> Swap:
    rules.check_proposal(from_district, to_district)
    source = PoolRef.district_pool(from_district, pollutant)
    pool = await s.get(Pool, source.id)
    rules.check_source_covers(source.id, amount_kg, balance_of(pool).available if pool else 0)
    sw = Swap(
        id=new_id(),
        from_district=from_district,
        to_district=to_district,
        pollutant=pollutant,
        amount_kg=amount_kg,
        reason=reason,
        status=SwapStatus.PROPOSED.value,
        proposed_by=actor.sub,
        proposed_at=utcnow(),
    )
    s.add(sw)
    record_audit(s, actor, "quota.swap.propose", "swap", sw.id, {"amount_kg": amount_kg})
    register.record(
        s,
        "swap_proposed",
        district=from_district,
        pollutant=pollutant,
        amount_kg=amount_kg,
        swap=sw.id,
        to=to_district,
    )
    return sw


async def lock_swap(s: AsyncSession, swap_id: str) -> Swap | None:
    return await s.scalar(
        select(Swap)
        .where(Swap.id == swap_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def approve(s: AsyncSession, sw: Swap, actor: Principal, delay: dt.timedelta) -> Swap:
    """Record one district's approval; the second holds the tonnes in the
    source pool (raises ledger Overdraft if it lacks them) and starts the delay."""
    side = rules.approval_side(
        status=sw.status,
        approver=actor.sub,
        proposer=sw.proposed_by,
        from_approved_by=sw.from_approved_by,
        to_approved_by=sw.to_approved_by,
        may_act_in_from=actor.may_act_in(sw.from_district),
        may_act_in_to=actor.may_act_in(sw.to_district),
    )
    now = utcnow()
    if side == "from":
        sw.from_approved_by, sw.from_approved_at = actor.sub, now
    else:
        sw.to_approved_by, sw.to_approved_at = actor.sub, now
    record_audit(s, actor, "quota.swap.approve", "swap", sw.id, {"side": side})
    if sw.from_approved_by and sw.to_approved_by:
        ref = PoolRef.district_pool(sw.from_district, sw.pollutant)
        pool = (await lock_pools(s, ref))[ref.id]
        post_entry(
            s,
            pool,
            EntryCode.RESERVE,
            sw.amount_kg,
            idempotency_id=f"swap:{sw.id}:hold",
            actor=actor.sub,
            reason="swap",
            ref=f"swap:{sw.id}",
        )
        draws = await lots.draw(s, pool.id, sw.amount_kg)
        await lots.apply(
            s, pool.id, [(lot, Move.HOLD, kg) for lot, kg in draws], ref=f"swap:{sw.id}"
        )
        sw.lots = [[lot, kg] for lot, kg in draws]
        sw.status = SwapStatus.APPROVED.value
        sw.effective_at = now + delay
        emit_balance_changed(s, pool, EntryCode.RESERVE)
        register.record(
            s,
            "swap_approved",
            district=sw.from_district,
            pollutant=sw.pollutant,
            amount_kg=sw.amount_kg,
            swap=sw.id,
            to=sw.to_district,
            effective=sw.effective_at.isoformat(),
        )
    return sw


async def cancel(s: AsyncSession, sw: Swap, actor: Principal, reason: str) -> Swap:
    rules.check_cancel(sw.status)
    if sw.status == SwapStatus.APPROVED:
        ref = PoolRef.district_pool(sw.from_district, sw.pollutant)
        pool = (await lock_pools(s, ref))[ref.id]
        post_entry(
            s,
            pool,
            EntryCode.RELEASE,
            sw.amount_kg,
            idempotency_id=f"swap:{sw.id}:release",
            actor=actor.sub,
            reason="swap_cancelled",
            ref=f"swap:{sw.id}",
        )
        draws = lots.as_draws(sw.lots)
        await lots.apply(
            s, pool.id, [(lot, Move.RELEASE, kg) for lot, kg in draws], ref=f"swap:{sw.id}"
        )
        emit_balance_changed(s, pool, EntryCode.RELEASE)
    sw.status = SwapStatus.CANCELLED.value
    sw.cancelled_by, sw.cancelled_at, sw.cancel_reason = actor.sub, utcnow(), reason
    record_audit(s, actor, "quota.swap.cancel", "swap", sw.id, {"reason": reason})
    register.record(
        s,
        "swap_cancelled",
        district=sw.from_district,
        pollutant=sw.pollutant,
        amount_kg=sw.amount_kg,
        swap=sw.id,
        to=sw.to_district,
    )
    return sw


async def settle(s: AsyncSession, sw: Swap) -> None:
    """The delay has passed: the held tonnes move to the target district."""
    source = PoolRef.district_pool(sw.from_district, sw.pollutant)
    target = PoolRef.district_pool(sw.to_district, sw.pollutant)
    pools = await lock_pools(s, source, target)
    out_pool, in_pool = pools[source.id], pools[target.id]
    ref = f"swap:{sw.id}"
    post_entry(
        s,
        out_pool,
        EntryCode.SWAP_OUT,
        sw.amount_kg,
        idempotency_id=f"{ref}:out",
        actor=SYSTEM.sub,
        reason="out",
        ref=ref,
    )
    post_entry(
        s,
        in_pool,
        EntryCode.SWAP_IN,
        sw.amount_kg,
        idempotency_id=f"{ref}:in",
        actor=SYSTEM.sub,
        reason="in",
        ref=ref,
    )
    draws = lots.as_draws(sw.lots)
    created = await lots.move_to_pool(
        s,
        draws,
        Move.HELD_OUT,
        source_pool_id=source.id,
        target_pool_id=target.id,
        target_district=sw.to_district,
        pollutant=sw.pollutant,
        source="swap",
        ref=ref,
        note=sw.reason,
    )
    for lot_id, (_, kg) in zip(created, draws, strict=True):
        await debts.repay(s, in_pool, lot_id, kg, SYSTEM)
    sw.status, sw.settled_at = SwapStatus.SETTLED.value, utcnow()
    emit_balance_changed(s, out_pool, EntryCode.SWAP_OUT)
    emit_balance_changed(s, in_pool, EntryCode.SWAP_IN)
    record_audit(s, SYSTEM, "quota.swap.settle", "swap", sw.id, {"amount_kg": sw.amount_kg})
    register.record(
        s,
        "swap_settled",
        district=sw.to_district,
        pollutant=sw.pollutant,
        amount_kg=sw.amount_kg,
        swap=sw.id,
        **{"from": sw.from_district},
    )


async def settle_due(db: Database, now: dt.datetime | None = None) -> int:
    """Settle approved swaps whose delay has passed; returns how many."""
    now = now or utcnow()
    done = 0
    async with db.session() as s:
        due = (
            await s.scalars(
                select(Swap.id)
                .where(Swap.status == SwapStatus.APPROVED.value, Swap.effective_at <= now)
                .order_by(Swap.effective_at, Swap.id)
            )
        ).all()
    for swap_id in due:
        async with db.transaction() as s:
            sw = await lock_swap(s, swap_id)
            # Re-checked under the lock: a cancel may have won the race.
            if sw is None or sw.status != SwapStatus.APPROVED or sw.effective_at is None:
                continue
            if sw.effective_at > now:
                continue
            await settle(s, sw)
            done += 1
    return done
