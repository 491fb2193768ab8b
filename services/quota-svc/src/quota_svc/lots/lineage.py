"""Reading lineage (来源追溯): a lot's ancestry, children and repayments, and
the lots a reservation drew on."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.types import kg_to_tonnes

from quota_svc.lots.models import Lot, LotMovement
from quota_svc.lots.rules import Move
from quota_svc.lots.schemas import LineageLot, LotDetail, LotOut, MovementOut, Repayment

#: A chain longer than this is a bug (lots move a few times at most).
MAX_ANCESTRY = 50


async def ancestry(s: AsyncSession, lot: Lot) -> list[LotOut]:
    out: list[LotOut] = []
    parent_id = lot.parent_lot_id
    while parent_id is not None and len(out) < MAX_ANCESTRY:
        parent = await s.get(Lot, parent_id)
        if parent is None:
            break
        out.append(LotOut.of(parent))
        parent_id = parent.parent_lot_id
    return out


async def repaid_by(s: AsyncSession, lot: Lot) -> list[Repayment]:
    if lot.source != "advance":
        return []
    rows = (
        await s.execute(
            select(LotMovement.lot_id, LotMovement.amount_kg)
            .where(LotMovement.counter_lot_id == lot.id, LotMovement.code == Move.REPAY.value)
            .order_by(LotMovement.id)
        )
    ).all()
    out = []
    for lot_id, kg in rows:
        credit = await s.get(Lot, lot_id)
        if credit is not None:
            out.append(Repayment(lot=LotOut.of(credit), amount_t=kg_to_tonnes(kg)))
    return out


async def detail(s: AsyncSession, lot: Lot) -> LotDetail:
    children = (
        await s.scalars(select(Lot).where(Lot.parent_lot_id == lot.id).order_by(Lot.id))
    ).all()
    movements = (
        await s.scalars(
            select(LotMovement).where(LotMovement.lot_id == lot.id).order_by(LotMovement.id)
        )
    ).all()
    return LotDetail(
        lot=LotOut.of(lot),
        ancestry=await ancestry(s, lot),
        children=[LotOut.of(c) for c in children],
        repaid_by=await repaid_by(s, lot),
        movements=[MovementOut.of(m) for m in movements],
    )


async def of_reservation(s: AsyncSession, reservation_id: str) -> list[LineageLot]:
    rows = (
        await s.execute(
            select(LotMovement.lot_id, LotMovement.code, LotMovement.amount_kg)
            .where(LotMovement.reservation_id == reservation_id)
            .order_by(LotMovement.id)
        )
    ).all()
    per_lot: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    order: list[int] = []
    for lot_id, code, kg in rows:
        if lot_id not in per_lot:
            order.append(lot_id)
        per_lot[lot_id][code] += kg
    out = []
    for lot_id in order:
        lot = await s.get(Lot, lot_id)
        if lot is None:
            continue
        sums = per_lot[lot_id]
        out.append(
            LineageLot(
                lot=LotOut.of(lot),
                held_t=kg_to_tonnes(sums[Move.HOLD.value]),
                allocated_t=kg_to_tonnes(sums[Move.ALLOCATE.value]),
                released_t=kg_to_tonnes(sums[Move.RELEASE.value]),
                ancestry=await ancestry(s, lot),
                repaid_by=await repaid_by(s, lot),
            )
        )
    return out
