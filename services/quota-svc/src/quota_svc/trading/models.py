"""Holdings of emission rights (排污权) and trades between enterprises."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from quota_svc.models import Base


class Holding(Base):
    """Allocated quota an enterprise holds (排污权), valid five years from its
    allocation (a holding bought keeps the term of what was sold). Made by
    an allocation or bought in a trade; retired by a reclaim of its plant.
    `amount_kg` is quota (what the pool allocated); `rights_kg` the emission
    it backs on the permit (amount ÷ offset ratio)."""

    __tablename__ = "holdings"
    __table_args__ = (
        CheckConstraint("amount_kg >= 0 AND rights_kg >= 0", name="ck_holdings_amounts"),
        Index("ix_holdings_uscc", "uscc", "pollutant", "acquired_at"),
        Index("ix_holdings_pool", "pool_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    pool_id: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(12))
    original_kg: Mapped[int] = mapped_column(BigInteger)
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    rights_kg: Mapped[int] = mapped_column(BigInteger)
    offset_ratio_hundredths: Mapped[int] = mapped_column(Integer)
    reservation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    trade_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: The lots whose allocated tonnes back it: [[lot_id, kg], ...].
    lots: Mapped[Any] = mapped_column(JSONType, nullable=True)
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Set when a confirmed reclaim retired it (收回注销): the rights of a plant
    #: that closed or gave them up on its permit. Its tonnes stay allocated
    #: (the plant used them); it can no longer be sold.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reclaim_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Trade(Base):
    """A sale of emission rights between two enterprises (排污权交易): checked,
    approved by a second person (four eyes), settled in one transaction."""

    __tablename__ = "trades"
    __table_args__ = (
        CheckConstraint("amount_kg > 0", name="ck_trades_amount"),
        Index("ix_trades_district", "district", "proposed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seller_uscc: Mapped[str] = mapped_column(String(18))
    buyer_uscc: Mapped[str] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(6))
    buyer_district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    offset_ratio_hundredths: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seller_rights_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    buyer_rights_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    contract_ref: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    refusal: Mapped[str | None] = mapped_column(String(40), nullable=True)
    refusal_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
