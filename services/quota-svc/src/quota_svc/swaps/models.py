"""Cross-district swap rows (跨区调剂)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from quota_svc.models import Base


class Swap(Base):
    """Tonnes moved from one district's pool to another's: proposed, approved
    by an officer of each district (never the proposer), held in the source
    pool, and settled after a delay during which either district may cancel."""

    __tablename__ = "swaps"
    __table_args__ = (
        CheckConstraint("amount_kg > 0", name="ck_swaps_amount"),
        Index("ix_swaps_due", "status", "effective_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    from_district: Mapped[str] = mapped_column(String(6))
    to_district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    from_approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    from_approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    to_approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    to_approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The source lots held for the swap: [[lot_id, kg], ...].
    lots: Mapped[Any] = mapped_column(JSONType, nullable=True)
