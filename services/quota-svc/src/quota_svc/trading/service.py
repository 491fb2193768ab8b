"""Trade orchestration (排污权交易): propose (checked), approve by a second
person (four eyes) and settle in that same transaction: the seller's
holdings give the quota oldest first, the buyer gets a new holding whose lots
are the seller's (or, across districts, new lots of the buyer district made
from them), and `quota.trade.settled` tells permit-svc to amend both permits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.context import new_id
from svc_common.errors import Conflict, IllegalTransition
from svc_common.events.schemas.quota import QuotaTradeSettled
from svc_common.i18n import msg
from svc_common.outbox import emit
from svc_common.types import kg_to_tonnes, utcnow

from quota_svc.ledger.rules import EntryCode, hundredths_to_ratio
from quota_svc.ledger.service import PoolRef, emit_balance_changed, lock_pools, post_entry
from quota_svc.lots import rules as lot_rules
from quota_svc.lots import service as lots
from quota_svc.lots.rules import Draws, Move
from quota_svc.policy.rules import Policy
from quota_svc.policy.service import policy_in_force
from quota_svc.reclaims.models import Reclaim
from quota_svc.reclaims.rules import ReclaimSource, ReclaimStatus
from quota_svc.register import service as register
from quota_svc.trading import rules
from quota_svc.trading.models import Holding, Trade
from quota_svc.trading.rules import TradeRefused, TradeStatus


async def seller_holdings(
    s: AsyncSession, uscc: str, district: str, pollutant: str, *, lock: bool
) -> list[Holding]:
    stmt = (
        select(Holding)
        .where(
            Holding.uscc == uscc,
            Holding.district == district,
            Holding.pollutant == pollutant,
            Holding.amount_kg > 0,
            Holding.retired_at.is_(None),
        )
        .order_by(Holding.acquired_at, Holding.id)
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await s.scalars(stmt)).all())


async def retire_holdings(
    s: AsyncSession,
    *,
    uscc: str,
    district: str,
    pollutant: str,
    rights_kg: int | None,
    reclaim_id: str,
) -> rules.Retirement:
    """收回注销: a confirmed reclaim of a plant's permit retires what the
    enterprise holds here, oldest first: all of it when the plant closed
    (`rights_kg` None), else that much of its rights. A holding retired in
    part is split, the retired part keeping its share of the lots. The
    tonnes stay allocated; they can no longer be sold (the reclaim credits
    the pool with what the permit freed). Returns the total retired."""
    held = await seller_holdings(s, uscc, district, pollutant, lock=True)
    now = utcnow()
    total = rules.Retirement(0, 0)
    plan = rules.retirements([(h.amount_kg, h.rights_kg) for h in held], rights_kg)
    for h, part in zip(held, plan, strict=True):
        if part.amount_kg <= 0:
            continue
        if part.amount_kg >= h.amount_kg:
            h.retired_at, h.reclaim_id = now, reclaim_id
        else:
            head, tail = lot_rules.split(lots.as_draws(h.lots), part.amount_kg)
            h.amount_kg -= part.amount_kg
            h.rights_kg -= part.rights_kg
            h.lots = [[lot, kg] for lot, kg in tail]
            s.add(
                Holding(
                    id=new_id(),
                    uscc=h.uscc,
                    district=h.district,
                    pollutant=h.pollutant,
                    pool_id=h.pool_id,
                    source=h.source,
                    original_kg=part.amount_kg,
                    amount_kg=part.amount_kg,
                    rights_kg=part.rights_kg,
                    offset_ratio_hundredths=h.offset_ratio_hundredths,
                    reservation_id=h.reservation_id,
                    trade_id=h.trade_id,
                    lots=[[lot, kg] for lot, kg in head],
                    acquired_at=h.acquired_at,
                    valid_until=h.valid_until,
                    retired_at=now,
                    reclaim_id=reclaim_id,
                )
            )
        total = rules.Retirement(total.amount_kg + part.amount_kg, total.rights_kg + part.rights_kg)
    return total


async def pending_closure(
    s: AsyncSession, uscc: str, district: str, pollutant: str
) -> Reclaim | None:
    """The pending reclaim of the enterprise's cancelled permit here, if
    quota-svc has one: confirming it retires everything the enterprise holds
    in this district and pollutant (收回注销), so until it is decided none of
    it may be sold."""
    return await s.scalar(
        select(Reclaim)
        .where(
            Reclaim.district == district,
            Reclaim.pollutant == pollutant,
            Reclaim.uscc == uscc,
            Reclaim.source == ReclaimSource.PERMIT_CANCELLED.value,
            Reclaim.status == ReclaimStatus.PENDING.value,
        )
        .order_by(Reclaim.created_at, Reclaim.id)
        .limit(1)
    )


async def check(
    s: AsyncSession, t: Trade, default: Policy, *, lock: bool
) -> tuple[list[Holding], int, int]:
    """(the seller's valid holdings, the buyer's rights, the buyer's ratio);
    raises TradeRefused naming the reason. At approval (`lock`) the seller's
    pool is locked first, as a reclaim's confirmation locks it: a pending
    closure read here is still pending when the trade settles."""
    now = utcnow()
    closing = await pending_closure(s, t.seller_uscc, t.district, t.pollutant)
    if closing is not None and t.seller_uscc != t.buyer_uscc:
        raise rules.closure_pending(closing.id, closing.permit_id)
    holdings = await seller_holdings(s, t.seller_uscc, t.district, t.pollutant, lock=lock)
    valid = [h for h in holdings if h.valid_until > now]
    policy = await policy_in_force(s, t.buyer_district, t.pollutant, now, default)
    buyer_rights = rules.check_trade(
        seller=t.seller_uscc,
        buyer=t.buyer_uscc,
        amount_kg=t.amount_kg,
        seller_valid_kg=sum(h.amount_kg for h in valid),
        seller_expired_kg=sum(h.amount_kg for h in holdings if h.valid_until <= now),
        buyer_ratio_h=policy.offset_ratio_hundredths,
    )
    return valid, buyer_rights, policy.offset_ratio_hundredths


async def propose(
    s: AsyncSession,
    t: Trade,
    actor: Principal,
    default: Policy,
) -> Trade:
    """Record a checked trade proposal (raises TradeRefused; nothing written)."""
    _, buyer_rights, ratio_h = await check(s, t, default, lock=False)
    t.id = new_id()
    t.status = TradeStatus.PROPOSED.value
    t.proposed_by, t.proposed_at = actor.sub, utcnow()
    t.buyer_rights_kg, t.offset_ratio_hundredths = buyer_rights, ratio_h
    s.add(t)
    record_audit(s, actor, "quota.trade.propose", "trade", t.id, {"amount_kg": t.amount_kg})
    return t


async def lock_trade(s: AsyncSession, trade_id: str) -> Trade | None:
    return await s.scalar(
        select(Trade)
        .where(Trade.id == trade_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def check_four_eyes(t: Trade, actor: Principal) -> None:
    if t.status != TradeStatus.PROPOSED:
        raise IllegalTransition(msg("trade", "交易"), t.status, "approve", [], rules.LABELS_ZH)
    if t.proposed_by == actor.sub:
        raise Conflict(
            msg(
                "four eyes: a trade is approved by someone other than its proposer",
                "四眼原则：交易须由提出人以外的人员审核",
            ),
            reason="proposer_approves",
        )


def _take(holdings: list[Holding], amount_kg: int) -> tuple[Draws, int]:
    """Take `amount_kg` from the holdings oldest first: (the lots sold, the
    seller's rights that go with them)."""
    sold: Draws = []
    rights = 0
    left = amount_kg
    for h in holdings:
        if left <= 0:
            break
        part = min(left, h.amount_kg)
        r = rules.proportional_rights(part, h.amount_kg, h.rights_kg)
        head, tail = lot_rules.split(lots.as_draws(h.lots), part)
        sold += head
        h.amount_kg -= part
        h.rights_kg -= r
        h.lots = [[lot, kg] for lot, kg in tail]
        rights += r
        left -= part
    return sold, rights


async def settle(s: AsyncSession, t: Trade, actor: Principal, default: Policy) -> Trade:
    """Approve and settle in one transaction (raises TradeRefused)."""
    check_four_eyes(t, actor)
    seller_pool = PoolRef.district_pool(t.district, t.pollutant)
    buyer_pool = PoolRef.district_pool(t.buyer_district, t.pollutant)
    pools = await lock_pools(s, seller_pool, buyer_pool)
    holdings, buyer_rights, ratio_h = await check(s, t, default, lock=True)
    sold, seller_rights = _take(holdings, t.amount_kg)
    ref = f"trade:{t.id}"
    now = utcnow()
    if t.district == t.buyer_district:
        # The tonnes stay allocated in the same lots; only their holder changes.
        buyer_lots = sold
        await lots.apply(s, seller_pool.id, [(lot, Move.TRADE, kg) for lot, kg in sold], ref=ref)
    else:
        out_pool, in_pool = pools[seller_pool.id], pools[buyer_pool.id]
        post_entry(
            s,
            out_pool,
            EntryCode.TRADE_OUT,
            t.amount_kg,
            idempotency_id=f"{ref}:out",
            actor=actor.sub,
            reason="out",
            ref=ref,
        )
        post_entry(
            s,
            in_pool,
            EntryCode.TRADE_IN,
            t.amount_kg,
            idempotency_id=f"{ref}:in",
            actor=actor.sub,
            reason="in",
            ref=ref,
        )
        created = await lots.move_to_pool(
            s,
            sold,
            Move.SOLD_OUT,
            source_pool_id=seller_pool.id,
            target_pool_id=buyer_pool.id,
            target_district=t.buyer_district,
            pollutant=t.pollutant,
            source="trade",
            ref=ref,
            allocated=True,
        )
        buyer_lots = [(lot, kg) for lot, (_, kg) in zip(created, sold, strict=True)]
        emit_balance_changed(s, out_pool, EntryCode.TRADE_OUT)
        emit_balance_changed(s, in_pool, EntryCode.TRADE_IN)
    s.add(
        Holding(
            id=new_id(),
            uscc=t.buyer_uscc,
            district=t.buyer_district,
            pollutant=t.pollutant,
            pool_id=buyer_pool.id,
            source="trade",
            original_kg=t.amount_kg,
            amount_kg=t.amount_kg,
            rights_kg=buyer_rights,
            offset_ratio_hundredths=ratio_h,
            reservation_id=None,
            trade_id=t.id,
            lots=[[lot, kg] for lot, kg in buyer_lots],
            acquired_at=now,
            valid_until=rules.valid_until(now),
        )
    )
    t.status = TradeStatus.SETTLED.value
    t.decided_by, t.decided_at = actor.sub, now
    t.seller_rights_kg, t.buyer_rights_kg, t.offset_ratio_hundredths = (
        seller_rights,
        buyer_rights,
        ratio_h,
    )
    emit(
        s,
        QuotaTradeSettled(
            trade_id=t.id,
            seller_uscc=t.seller_uscc,
            buyer_uscc=t.buyer_uscc,
            district=t.district,
            buyer_district=t.buyer_district,
            pollutant=t.pollutant,
            amount_t=kg_to_tonnes(t.amount_kg),
            seller_rights_t=kg_to_tonnes(seller_rights),
            buyer_rights_t=kg_to_tonnes(buyer_rights),
            offset_ratio=hundredths_to_ratio(ratio_h),
            contract_ref=t.contract_ref,
        ),
    )
    record_audit(
        s,
        actor,
        "quota.trade.settle",
        "trade",
        t.id,
        {
            "amount_kg": t.amount_kg,
            "seller_rights_kg": seller_rights,
            "buyer_rights_kg": buyer_rights,
        },
    )
    register.record(
        s,
        "trade_settled",
        district=t.district,
        pollutant=t.pollutant,
        amount_kg=t.amount_kg,
        trade=t.id,
        seller=t.seller_uscc,
        buyer=t.buyer_uscc,
        buyer_district=t.buyer_district,
        contract=t.contract_ref,
        price_fen_per_t=t.price_fen_per_t,
    )
    return t


def cancel(s: AsyncSession, t: Trade, actor: Principal, reason: str) -> Trade:
    """Withdraw a proposal (its proposer) or decline it (the officer asked to
    approve it): nothing was held or moved, so only the trade changes."""
    if t.status != TradeStatus.PROPOSED:
        raise IllegalTransition(msg("trade", "交易"), t.status, "cancel", [], rules.LABELS_ZH)
    t.status = TradeStatus.CANCELLED.value
    t.refusal, t.refusal_detail = "cancelled", reason
    t.decided_by, t.decided_at = actor.sub, utcnow()
    record_audit(s, actor, "quota.trade.cancel", "trade", t.id, {"reason": reason})
    return t


def refuse(s: AsyncSession, t: Trade, actor: Principal, exc: TradeRefused) -> None:
    t.status = TradeStatus.REFUSED.value
    t.refusal, t.refusal_detail = exc.reason, exc.detail
    t.decided_by, t.decided_at = actor.sub, utcnow()
    record_audit(s, actor, "quota.trade.refuse", "trade", t.id, {"reason": exc.reason})
    register.record(
        s,
        "trade_refused",
        district=t.district,
        pollutant=t.pollutant,
        amount_kg=t.amount_kg,
        trade=t.id,
        reason=exc.reason,
    )
