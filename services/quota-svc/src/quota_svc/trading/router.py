"""Holdings and trading API (排污权交易)."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends
from sqlalchemy import select
from svc_common.auth import Principal, require
from svc_common.districts import DistrictCode
from svc_common.errors import Conflict, field_error
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import Runtime, runtime
from svc_common.types import ResourceId, tonnes_to_kg, utcnow
from svc_common.uscc import USCC, uscc_problem

from quota_svc.api import READERS, readable_districts
from quota_svc.policy.service import default_policy
from quota_svc.settings import Settings
from quota_svc.trading import service
from quota_svc.trading.models import Holding, Trade
from quota_svc.trading.rules import TradeRefused
from quota_svc.trading.schemas import HoldingOut, TradeCancelIn, TradeIn, TradeOut

router = APIRouter(prefix="/quota", tags=["trading"])


def _refusal(exc: TradeRefused) -> Conflict:
    problem = Conflict(exc.detail, reason=exc.reason)
    problem.extra.update(exc.extra)
    return problem


def _settings(rt: Runtime) -> Settings:
    assert isinstance(rt.settings, Settings)
    return rt.settings


@router.get("/holdings", response_model=Page[HoldingOut])
async def list_holdings(
    uscc: USCC | None = None,
    district: DistrictCode | None = None,
    include_empty: bool = False,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> Page[HoldingOut]:
    """An enterprise's emission rights (allocated quota it holds), each valid
    five years from when it was acquired: oldest first, a page at a time
    (`next_cursor` until the last)."""
    if uscc is not None and (problem := uscc_problem(uscc)):
        raise field_error("uscc", problem)
    districts = readable_districts(principal, district)
    after = decode_cursor(cursor, "time", "str")
    stmt = select(Holding).where(Holding.district.in_(districts))
    if uscc:
        stmt = stmt.where(Holding.uscc == uscc)
    if not include_empty:
        stmt = stmt.where(Holding.amount_kg > 0)
    if after is not None:
        stmt = stmt.where(keyset_after(after, Holding.acquired_at, Holding.id))
    now = utcnow()
    async with rt.db.session() as s:
        rows = (
            await s.scalars(stmt.order_by(Holding.acquired_at, Holding.id).limit(limit + 1))
        ).all()
    return keyset_page(
        rows, limit, lambda h: [h.acquired_at.isoformat(), h.id], lambda h: HoldingOut.of(h, now)
    )


@router.post("/trades", status_code=201, response_model=TradeOut)
async def propose_trade(
    body: TradeIn,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> TradeOut:
    """Checked at once (the seller holds it; the buyer's need at its
    district's ratio); a refusal is a 409 naming the reason."""
    principal.require_district(body.district)
    buyer_district = body.buyer_district or body.district
    t = Trade(
        seller_uscc=body.seller,
        buyer_uscc=body.buyer,
        district=body.district,
        buyer_district=buyer_district,
        pollutant=body.pollutant,
        amount_kg=tonnes_to_kg(body.amount_t),
        price_fen_per_t=int(body.price_cny_per_t * Decimal(100)),
        contract_ref=body.contract_ref,
    )
    try:
        async with rt.db.transaction() as s:
            await service.propose(s, t, principal, default_policy(_settings(rt)))
    except TradeRefused as exc:
        raise _refusal(exc) from exc
    return TradeOut.of(t)


def _found(t: Trade | None, trade_id: str, principal: Principal) -> Trade:
    """The trade, if the seller's district or the buyer's is the caller's:
    either side may see, or withdraw, a trade. Else it is not found, as one
    that does not exist (a 403 would tell that it exists)."""
    principal.require_found(
        msg(f"trade {trade_id} not found", f"交易 {trade_id} 不存在"),
        *((t.district, t.buyer_district) if t else ()),
    )
    assert t is not None
    return t


@router.post("/trades/{trade_id}/approve", response_model=TradeOut)
async def approve_trade(
    trade_id: ResourceId,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> TradeOut:
    """Four eyes: someone other than the proposer, who may act in both
    districts, approves; the trade is checked again and settled in the same
    transaction (or refused, with the reason recorded)."""
    refused: TradeRefused | None = None
    async with rt.db.transaction() as s:
        t = _found(await service.lock_trade(s, trade_id), trade_id, principal)
        # Seen by one side, approved by one who may act in both (403).
        principal.require_district(t.district)
        principal.require_district(t.buyer_district)
        try:
            # The check comes before any change of holdings, lots or pools,
            # so a refusal can be recorded in this same transaction.
            await service.settle(s, t, principal, default_policy(_settings(rt)))
        except TradeRefused as exc:
            refused = exc
            service.refuse(s, t, principal, exc)
    if refused is not None:
        raise _refusal(refused)
    return TradeOut.of(t)


@router.post("/trades/{trade_id}/cancel", response_model=TradeOut)
async def cancel_trade(
    trade_id: ResourceId,
    body: TradeCancelIn,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> TradeOut:
    """Withdraw or decline a proposed trade (撤回), with the reason: its
    proposer, or an officer of either district who will not approve it.
    Nothing was held, so nothing is released; a settled or refused trade
    cannot be cancelled (409)."""
    async with rt.db.transaction() as s:
        t = _found(await service.lock_trade(s, trade_id), trade_id, principal)
        service.cancel(s, t, principal, body.reason)
    return TradeOut.of(t)


@router.get("/trades/{trade_id}", response_model=TradeOut)
async def read_trade(
    trade_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> TradeOut:
    async with rt.db.session() as s:
        t = _found(await s.get(Trade, trade_id), trade_id, principal)
    return TradeOut.of(t)
