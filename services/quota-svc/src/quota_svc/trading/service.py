"""Trade orchestration (排污权交易): propose (checked), approve by a second
person (four eyes) and settle in that same transaction: the seller's
holdings give the quota oldest first, each part in the pool its holding is in
(the district's, a park's or the reserve); the buyer gets a holding in each
of those pools with the seller's lots (or, across districts, holdings of
new lots of the buyer district made from them), one for each validity sold:
what was sold keeps its term (five years from its allocation, never renewed
by a sale). `quota.trade.settled` tells permit-svc to amend both permits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import record_audit
from svc_common.auth import Principal, refuse_same_person
from svc_common.context import new_id
from svc_common.errors import Conflict, IllegalTransition
from svc_common.events.schemas.quota import QuotaTradeSettled
from svc_common.i18n import msg
from svc_common.outbox import emit
from svc_common.types import kg_to_tonnes, utcnow

from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import EntryCode, hundredths_to_ratio
from quota_svc.ledger.service import PoolRef, emit_balance_changed, lock_pools, post_entry
from quota_svc.lots import rules as lot_rules
from quota_svc.lots import service as lots
from quota_svc.lots.models import LOTS
from quota_svc.lots.rules import Draws, Move
from quota_svc.policy.rules import Policy
from quota_svc.policy.service import policy_in_force
from quota_svc.reclaims.models import Reclaim
from quota_svc.reclaims.rules import ReclaimSource, ReclaimStatus
from quota_svc.register import rules as register_rules
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
    holdings are locked before the reclaims are read, as a reclaim's
    confirmation locks them to retire them: a closure confirmed meanwhile
    has retired them, one still pending here refuses the trade."""
    now = utcnow()
    holdings = await seller_holdings(s, t.seller_uscc, t.district, t.pollutant, lock=lock)
    closing = await pending_closure(s, t.seller_uscc, t.district, t.pollutant)
    if closing is not None and t.seller_uscc != t.buyer_uscc:
        raise rules.closure_pending(closing.id, closing.permit_id)
    # What quota-svc knows of the buyer's permit: a cancellation whose
    # reclaim is pending (permit-svc's other states it does not hold).
    buying = await pending_closure(s, t.buyer_uscc, t.buyer_district, t.pollutant)
    if buying is not None and t.seller_uscc != t.buyer_uscc:
        raise rules.buyer_closing(t.buyer_uscc, buying.id, buying.permit_id)
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
    refuse_same_person(
        t.proposed_by,
        actor.sub,
        en="four eyes: a trade is approved by someone other than its proposer",
        zh="四眼原则：交易须由提出人以外的人员审核",
        reason="proposer_approves",
    )


@dataclass
class _Part:
    """What a sale takes from the holdings of one pool: the lots sold (each
    holding's oldest), the quota and the seller's rights that go with them."""

    pool_id: str
    lots: Draws = field(default_factory=list)
    amount_kg: int = 0
    rights_kg: int = 0
    #: The validity of each draw in `lots`: that of the holding it was taken
    #: from, which the buyer's holding keeps.
    terms: list[dt.datetime] = field(default_factory=list)


def _take(holdings: list[Holding], amount_kg: int) -> list[_Part]:
    """Take `amount_kg` from the holdings oldest first, grouped by the pool
    each holding (and its lots) belongs to: a district's, a park's or the
    reserve (in the order the pools were first taken from)."""
    parts: dict[str, _Part] = {}
    left = amount_kg
    for h in holdings:
        if left <= 0:
            break
        part = min(left, h.amount_kg)
        r = rules.proportional_rights(part, h.amount_kg, h.rights_kg)
        head, tail = lot_rules.split(lots.as_draws(h.lots), part)
        p = parts.setdefault(h.pool_id, _Part(h.pool_id))
        p.lots += head
        p.terms += [h.valid_until] * len(head)
        p.amount_kg += part
        p.rights_kg += r
        h.amount_kg -= part
        h.rights_kg -= r
        h.lots = [[lot, kg] for lot, kg in tail]
        left -= part
    return list(parts.values())


async def _seller_pool_ids(s: AsyncSession, t: Trade) -> set[str]:
    """The pools the seller's holdings here are in, read before any lock."""
    rows = await s.scalars(
        select(Holding.pool_id)
        .where(
            Holding.uscc == t.seller_uscc,
            Holding.district == t.district,
            Holding.pollutant == t.pollutant,
            Holding.amount_kg > 0,
            Holding.retired_at.is_(None),
        )
        .distinct()
    )
    return set(rows.all())


def _ledger_disagrees(detail_en: str, detail_zh: str, pool_id: str) -> Conflict:
    return Conflict(
        msg(
            f"{detail_en}; the trade cannot be settled until the ledger is reconciled",
            f"{detail_zh}，台账对账一致之前该交易无法交割",
        ),
        reason="ledger_disagrees",
        pool_id=pool_id,
    )


async def _check_parts(
    s: AsyncSession, parts: list[_Part], pools: dict[str, Pool], *, cross: bool
) -> None:
    """Each part's lots are allocated lots of its holdings' pool, and (sold
    out of the district) that pool has them allocated: a ledger that says
    otherwise is a 409, never a balance or lot driven below zero."""
    lot_ids = {lot for p in parts for lot, _ in p.lots}
    found = {
        r.id: r
        for r in await s.execute(
            select(LOTS.c.id, LOTS.c.pool_id, LOTS.c.allocated_kg).where(LOTS.c.id.in_(lot_ids))
        )
    }
    for p in parts:
        pool = pools[p.pool_id]
        sold: dict[int, int] = {}
        for lot_id, kg in p.lots:
            sold[lot_id] = sold.get(lot_id, 0) + kg
        for lot_id, kg in sold.items():
            lot = found.get(lot_id)
            if lot is None or lot.pool_id != p.pool_id or lot.allocated_kg < kg:
                raise _ledger_disagrees(
                    f"lot {lot_id} of the seller's holdings in pool {p.pool_id} "
                    f"does not have {kg} kg allocated there",
                    f"卖方在总量池 {p.pool_id} 的持有量所列批次 {lot_id} "
                    f"在该池并无已分配的 {kg} 千克",
                    p.pool_id,
                )
        if cross and pool.allocated_kg < p.amount_kg:
            raise _ledger_disagrees(
                f"pool {p.pool_id} has {pool.allocated_kg} kg allocated, "
                f"less than the {p.amount_kg} kg the seller's holdings there give",
                f"总量池 {p.pool_id} 已分配 {pool.allocated_kg} 千克，"
                f"少于卖方在该池持有的 {p.amount_kg} 千克",
                p.pool_id,
            )


async def _lock_pools_then_holdings(
    s: AsyncSession, t: Trade, default: Policy, also: list[PoolRef]
) -> tuple[dict[str, Pool], list[Holding], int, int]:
    """Lock the pools a settlement moves quota in, then the seller's
    holdings, and `check` the trade: (the pools by id, `check`'s answer).

    The ledger's one lock order: every pool first, all at once in sorted id
    order (`lock_pools`), then the holdings. The pools are those the
    seller's holdings were in when read, before any lock, and `also` (the
    buyer district's, across districts). A holding of a pool not among them
    (allocated from it since the read) would need its pool locked after the
    holdings, out of that order: a settlement holding that pool and waiting
    for one of these would deadlock with this one. Then the locks are undone
    (a savepoint) and taken again in order, that pool with them."""
    pool_ids = await _seller_pool_ids(s, t)
    while True:
        savepoint = await s.begin_nested()
        try:
            pools = await lock_pools(s, *(PoolRef.of_id(p) for p in pool_ids), *also)
            holdings, buyer_rights, ratio_h = await check(s, t, default, lock=True)
        except Exception:  # a refusal: nothing of the savepoint is kept
            await savepoint.rollback()
            raise
        unlocked = {h.pool_id for h in holdings} - pools.keys()
        if not unlocked:
            await savepoint.commit()  # the locks stay the transaction's
            return pools, holdings, buyer_rights, ratio_h
        await savepoint.rollback()
        pool_ids |= unlocked


async def settle(s: AsyncSession, t: Trade, actor: Principal, default: Policy) -> Trade:
    """Approve and settle in one transaction (raises TradeRefused; Conflict,
    with nothing written, if the ledger disagrees with the seller's holdings).
    Every part of the sale moves in the pool of the holding it comes from."""
    check_four_eyes(t, actor)
    cross = t.district != t.buyer_district
    buyer_pool = PoolRef.district_pool(t.buyer_district, t.pollutant)
    pools, holdings, buyer_rights, ratio_h = await _lock_pools_then_holdings(
        s, t, default, [buyer_pool] if cross else []
    )
    parts = _take(holdings, t.amount_kg)
    await _check_parts(s, parts, pools, cross=cross)
    seller_rights = sum(p.rights_kg for p in parts)
    ref = f"trade:{t.id}"
    now = utcnow()
    # The buyer's holdings: (pool, lots, quota, valid until) each, one per
    # pool and term sold: what was sold keeps its validity.
    bought: list[tuple[str, Draws, int, dt.datetime]] = []
    if not cross:
        # The tonnes stay allocated in the same lots of the same pools; only
        # their holder changes: the buyer holds them in each seller holding's pool.
        for p in parts:
            await lots.apply(s, p.pool_id, [(lot, Move.TRADE, kg) for lot, kg in p.lots], ref=ref)
            for term, drawn in rules.by_term(p.lots, p.terms):
                bought.append((p.pool_id, drawn, sum(kg for _, kg in drawn), term))
    else:
        in_pool = pools[buyer_pool.id]
        buyer_lots: Draws = []
        buyer_terms: list[dt.datetime] = []
        for p in parts:
            out_pool = pools[p.pool_id]
            post_entry(
                s,
                out_pool,
                EntryCode.TRADE_OUT,
                p.amount_kg,
                # One pool keeps the id every trade had; several each name theirs.
                idempotency_id=f"{ref}:out" if len(parts) == 1 else f"{ref}:out:{p.pool_id}",
                actor=actor.sub,
                reason="out",
                ref=ref,
            )
            created = await lots.move_to_pool(
                s,
                p.lots,
                Move.SOLD_OUT,
                source_pool_id=p.pool_id,
                target_pool_id=buyer_pool.id,
                target_district=t.buyer_district,
                pollutant=t.pollutant,
                source="trade",
                ref=ref,
                allocated=True,
            )
            buyer_lots += [(lot, kg) for lot, (_, kg) in zip(created, p.lots, strict=True)]
            buyer_terms += p.terms
            emit_balance_changed(s, out_pool, EntryCode.TRADE_OUT)
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
        emit_balance_changed(s, in_pool, EntryCode.TRADE_IN)
        for term, drawn in rules.by_term(buyer_lots, buyer_terms):
            bought.append((buyer_pool.id, drawn, sum(kg for _, kg in drawn), term))
    shares = rules.rights_shares([kg for _, _, kg, _ in bought], buyer_rights)
    for (pool_id, drawn, amount, term), rights in zip(bought, shares, strict=True):
        s.add(
            Holding(
                id=new_id(),
                uscc=t.buyer_uscc,
                district=t.buyer_district,
                pollutant=t.pollutant,
                pool_id=pool_id,
                source="trade",
                original_kg=amount,
                amount_kg=amount,
                rights_kg=rights,
                offset_ratio_hundredths=ratio_h,
                reservation_id=None,
                trade_id=t.id,
                lots=[[lot, kg] for lot, kg in drawn],
                acquired_at=now,
                valid_until=term,
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
        # The contract's reference is typed by hand: its digest, never its text.
        contract_sha256=register_rules.text_digest(t.contract_ref),
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
