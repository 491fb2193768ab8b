"""Advance limits per district and the debts advances create."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, UTCDateTime, utcnow

from quota_svc.models import Base


class AdvanceLimit(Base):
    """How much a district may owe at once (先用后补额度) and for how long an
    advance may stay unpaid; the latest row is in force."""

    __tablename__ = "advance_limits"
    __table_args__ = (
        CheckConstraint("limit_kg >= 0 AND term_days > 0", name="ck_advance_limits"),
        Index("ix_advance_limits", "district", "pollutant", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    limit_kg: Mapped[int] = mapped_column(BigInteger)
    term_days: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Debt(Base):
    """Quota used before it was offset (先用后补): an advance lot of
    `amount_kg`, repaid by later credits, oldest debt first. What its
    reservation released unused is withdrawn (`withdrawn_kg`): the pool's
    credit goes with the hold it was for, and that part is never repaid.
    Outstanding: amount − repaid − withdrawn."""

    __tablename__ = "debts"
    __table_args__ = (
        CheckConstraint("repaid_kg >= 0 AND repaid_kg <= amount_kg", name="ck_debts_repaid"),
        CheckConstraint(
            "withdrawn_kg >= 0 AND repaid_kg + withdrawn_kg <= amount_kg",
            name="ck_debts_withdrawn",
        ),
        Index("ix_debts_pool", "pool_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    pool_id: Mapped[str] = mapped_column(String(120))
    reservation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lot_id: Mapped[int] = mapped_column(BigInteger)
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    repaid_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    withdrawn_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    repaid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
