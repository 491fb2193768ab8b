"""Swap API (跨区调剂): propose, approve (an officer of each district, never
the proposer), cancel during the delay, read."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal, require
from svc_common.districts import DistrictCode
from svc_common.errors import Forbidden
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
from svc_common.types import ResourceId, tonnes_to_kg

from quota_svc.api import READERS, readable_districts
from quota_svc.ledger.router import overdraft_problem
from quota_svc.ledger.rules import Overdraft
from quota_svc.settings import Settings
from quota_svc.swaps import service
from quota_svc.swaps.models import Swap
from quota_svc.swaps.schemas import CancelIn, SwapIn, SwapOut

router = APIRouter(prefix="/quota/swaps", tags=["swaps"])


def _no_swap(swap_id: str) -> str:
    return msg(f"swap {swap_id} not found", f"调剂 {swap_id} 不存在")


def _seen(principal: Principal, sw: Swap | None, swap_id: str) -> Swap:
    """The swap, if either of its two districts is the caller's; else it is
    not found, as one that does not exist (a 403 would tell it exists)."""
    principal.require_found(_no_swap(swap_id), *((sw.from_district, sw.to_district) if sw else ()))
    assert sw is not None
    return sw


@router.post("", status_code=201, response_model=SwapOut)
async def propose_swap(
    body: SwapIn,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> SwapOut:
    if not (principal.may_act_in(body.from_district) or principal.may_act_in(body.to_district)):
        raise Forbidden(
            msg("a swap is proposed from one of its two districts", "调剂须由两区之一提出"),
            district=body.from_district,
        )
    async with rt.db.transaction() as s:
        sw = await service.propose(
            s,
            body.from_district,
            body.to_district,
            body.pollutant,
            tonnes_to_kg(body.amount_t),
            body.reason,
            principal,
        )
    return SwapOut.of(sw)


async def _locked(s: AsyncSession, swap_id: str, principal: Principal) -> Swap:
    return _seen(principal, await service.lock_swap(s, swap_id), swap_id)


@router.post("/{swap_id}/approve", response_model=SwapOut)
async def approve_swap(
    swap_id: ResourceId,
    principal: Principal = Depends(require("officer")),
    rt: Runtime = Depends(runtime),
) -> SwapOut:
    """One district's approval. The second holds the tonnes in the source
    pool and the swap takes effect after the configured delay."""
    assert isinstance(rt.settings, Settings)
    try:
        async with rt.db.transaction() as s:
            sw = await _locked(s, swap_id, principal)
            await service.approve(s, sw, principal, rt.settings.swap_delay_delta)
    except Overdraft as od:
        raise overdraft_problem(od) from od
    return SwapOut.of(sw)


@router.post("/{swap_id}/cancel", response_model=SwapOut)
async def cancel_swap(
    swap_id: ResourceId,
    body: CancelIn,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> SwapOut:
    """Either district may cancel until the swap takes effect."""
    async with rt.db.transaction() as s:
        sw = await _locked(s, swap_id, principal)
        await service.cancel(s, sw, principal, body.reason)
    return SwapOut.of(sw)


@router.get("/{swap_id}", response_model=SwapOut)
async def read_swap(
    swap_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> SwapOut:
    async with rt.db.session() as s:
        sw = _seen(principal, await s.get(Swap, swap_id), swap_id)
    return SwapOut.of(sw)


@router.get("", response_model=Page[SwapOut])
async def list_swaps(
    district: DistrictCode | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> Page[SwapOut]:
    """Swaps from or to the caller's districts (or `district`), oldest first,
    a page at a time (`next_cursor` until the last)."""
    districts = readable_districts(principal, district)
    after = decode_cursor(cursor, "time", "str")
    stmt = select(Swap).where(
        or_(Swap.from_district.in_(districts), Swap.to_district.in_(districts))
    )
    if after is not None:
        stmt = stmt.where(keyset_after(after, Swap.proposed_at, Swap.id))
    async with rt.db.session() as s:
        rows = (await s.scalars(stmt.order_by(Swap.proposed_at, Swap.id).limit(limit + 1))).all()
    return keyset_page(rows, limit, lambda sw: [sw.proposed_at.isoformat(), sw.id], SwapOut.of)
