"""Response bodies of the lot and lineage API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from svc_common.types import TotalTonnes, kg_to_tonnes

from quota_svc.lots.models import Lot, LotMovement


class LotOut(BaseModel):
    id: int
    serial: str
    pool_id: str
    district: str
    pollutant: str
    source: str
    original_t: TotalTonnes
    available_t: TotalTonnes
    held_t: TotalTonnes
    allocated_t: TotalTonnes
    out_t: TotalTonnes
    repaid_t: TotalTonnes
    parent_lot_id: int | None
    uscc: str | None
    permit_id: str | None
    source_event_id: str | None
    reclaim_id: str | None
    ref: str | None
    confirmed_by: str | None
    note: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, lot: Lot) -> LotOut:
        return cls(
            id=lot.id,
            serial=lot.serial,
            pool_id=lot.pool_id,
            district=lot.district,
            pollutant=lot.pollutant,
            source=lot.source,
            original_t=kg_to_tonnes(lot.original_kg),
            available_t=kg_to_tonnes(lot.available_kg),
            held_t=kg_to_tonnes(lot.held_kg),
            allocated_t=kg_to_tonnes(lot.allocated_kg),
            out_t=kg_to_tonnes(lot.out_kg),
            repaid_t=kg_to_tonnes(lot.repaid_kg),
            parent_lot_id=lot.parent_lot_id,
            uscc=lot.uscc,
            permit_id=lot.permit_id,
            source_event_id=lot.source_event_id,
            reclaim_id=lot.reclaim_id,
            ref=lot.ref,
            confirmed_by=lot.confirmed_by,
            note=lot.note,
            created_at=lot.created_at,
        )


class MovementOut(BaseModel):
    id: int
    lot_id: int
    code: str
    amount_t: TotalTonnes
    reservation_id: str | None
    ref: str | None
    counter_lot_id: int | None
    at: dt.datetime

    @classmethod
    def of(cls, m: LotMovement) -> MovementOut:
        return cls(
            id=m.id,
            lot_id=m.lot_id,
            code=m.code,
            amount_t=kg_to_tonnes(m.amount_kg),
            reservation_id=m.reservation_id,
            ref=m.ref,
            counter_lot_id=m.counter_lot_id,
            at=m.at,
        )


class Repayment(BaseModel):
    """A later credit that repaid some of an advance lot (先用后补)."""

    lot: LotOut
    amount_t: TotalTonnes


class LotDetail(BaseModel):
    lot: LotOut
    #: Where the lot's tonnes came from: its parent, the parent's parent… to the origin.
    ancestry: list[LotOut]
    #: Lots made from this one's tonnes (moved to another pool or district).
    children: list[LotOut]
    repaid_by: list[Repayment]
    #: Everything that happened to the lot, oldest first (where it went).
    movements: list[MovementOut]


class LineageLot(BaseModel):
    """One lot a reservation drew on, with how much, and where it came from."""

    lot: LotOut
    held_t: TotalTonnes
    allocated_t: TotalTonnes
    released_t: TotalTonnes
    ancestry: list[LotOut]
    repaid_by: list[Repayment]


class LineageOut(BaseModel):
    reservation_id: str
    project_ref: str
    uscc: str | None
    district: str
    pollutant: str
    status: str
    required_t: TotalTonnes
    allocated_t: TotalTonnes
    lots: list[LineageLot]
