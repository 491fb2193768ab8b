"""Lot rows (批次) and their movements (批次流水): the lineage of every tonne."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, UTCDateTime, utcnow

from quota_svc.models import Base

_OPEN = text("available_kg > 0")


class Lot(Base):
    """One credit to one pool with its provenance (baseline, a closed plant's
    reclaim, a reduction, an adjustment, tonnes moved in from another pool or
    district, a trade, an advance). Holds and allocations draw on lots, so
    `available = original − held − allocated − out` per lot, and the lots of
    a pool add up to the pool's balance."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint(
            "available_kg = original_kg - held_kg - allocated_kg - out_kg", name="ck_lots_balance"
        ),
        CheckConstraint(
            "available_kg >= 0 AND held_kg >= 0 AND allocated_kg >= 0 AND out_kg >= 0",
            name="ck_lots_nonnegative",
        ),
        Index("ix_lots_pool", "pool_id", "id"),
        Index("ix_lots_open", "pool_id", "id", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_lots_district", "district", "pollutant", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(80), unique=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    original_kg: Mapped[int] = mapped_column(BigInteger)
    available_kg: Mapped[int] = mapped_column(BigInteger)
    held_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    allocated_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    out_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    #: An advance lot: how much of it later credits have repaid.
    repaid_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    parent_lot_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    permit_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reclaim_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(400), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LotMovement(Base):
    """What happened to some of a lot's tonnes: held for or allocated to a
    reservation, returned, moved out to another lot (transfer, swap, trade),
    used to repay an advance. Append-only."""

    __tablename__ = "lot_movements"
    __table_args__ = (
        Index("ix_movements_lot", "lot_id", "id"),
        Index("ix_movements_reservation", "reservation_id"),
        Index("ix_movements_ref", "ref"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(BigInteger)
    pool_id: Mapped[str] = mapped_column(String(120))
    code: Mapped[str] = mapped_column(String(12))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    reservation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    counter_lot_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


LOTS = cast(Table, Lot.__table__)
MOVEMENTS = cast(Table, LotMovement.__table__)
