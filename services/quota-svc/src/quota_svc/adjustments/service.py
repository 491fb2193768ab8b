"""Adjustment orchestration: propose, then approve (posts) or reject."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.context import new_id
from svc_common.types import utcnow

from quota_svc.adjustments import rules
from quota_svc.adjustments.models import Adjustment
from quota_svc.adjustments.rules import AdjustmentStatus
from quota_svc.credits import Provenance, credit
from quota_svc.ledger.rules import EntryCode
from quota_svc.ledger.service import PoolRef, emit_balance_changed, lock_pools, post_entry
from quota_svc.lots import service as lots
from quota_svc.lots.rules import Move


def propose(
    s: AsyncSession, district: str, pollutant: str, amount_kg: int, note: str, actor: Principal
) -> Adjustment:
    a = Adjustment(
        id=new_id(),
        district=district,
        pollutant=pollutant,
        pool_id=PoolRef.district_pool(district, pollutant).id,
        amount_kg=amount_kg,
        note=note,
        status=AdjustmentStatus.PROPOSED.value,
        proposed_by=actor.sub,
        proposed_at=utcnow(),
    )
    s.add(a)
    record_audit(s, actor, "quota.adjustment.propose", "adjustment", a.id, {"amount_kg": amount_kg})
    return a


async def lock_adjustment(s: AsyncSession, adjustment_id: str) -> Adjustment | None:
    return await s.scalar(
        select(Adjustment)
        .where(Adjustment.id == adjustment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def approve(s: AsyncSession, a: Adjustment, actor: Principal) -> Adjustment:
    """Post the adjustment (raises rules.Overdraft if a decrease exceeds what is available)."""
    rules.check_decision(a.status, "approve")
    rules.check_four_eyes(a.proposed_by, actor.sub)
    ref = PoolRef.district_pool(a.district, a.pollutant)
    pool = (await lock_pools(s, ref))[ref.id]
    note = f"{a.note} (proposed by {a.proposed_by})"
    if a.amount_kg > 0:
        await credit(
            s,
            pool,
            EntryCode.ADJUSTMENT,
            a.amount_kg,
            Provenance(
                "adjustment",
                ref=f"adjustment:{a.id}",
                confirmed_by=f"{a.proposed_by},{actor.sub}",
                note=a.note,
            ),
            idempotency_id=f"adjustment:{a.id}",
            actor=actor,
            note=note,
        )
    else:
        # A decrease takes the tonnes out of the oldest lots that have them.
        post_entry(
            s,
            pool,
            EntryCode.ADJUSTMENT,
            a.amount_kg,
            idempotency_id=f"adjustment:{a.id}",
            actor=actor.sub,
            note=note,
            ref=f"adjustment:{a.id}",
        )
        draws = await lots.draw(s, pool.id, -a.amount_kg)
        await lots.apply(
            s, pool.id, [(lot, Move.OUT, kg) for lot, kg in draws], ref=f"adjustment:{a.id}"
        )
    a.status = AdjustmentStatus.APPROVED.value
    a.decided_by, a.decided_at = actor.sub, utcnow()
    emit_balance_changed(s, pool, EntryCode.ADJUSTMENT)
    record_audit(
        s, actor, "quota.adjustment.approve", "adjustment", a.id, {"amount_kg": a.amount_kg}
    )
    return a


def reject(s: AsyncSession, a: Adjustment, actor: Principal) -> Adjustment:
    rules.check_decision(a.status, "reject")
    rules.check_four_eyes(a.proposed_by, actor.sub)
    a.status = AdjustmentStatus.REJECTED.value
    a.decided_by, a.decided_at = actor.sub, utcnow()
    record_audit(s, actor, "quota.adjustment.reject", "adjustment", a.id, None)
    return a
