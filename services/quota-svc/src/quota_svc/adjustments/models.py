"""Manual adjustment rows (人工调整), proposed then approved by another person."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime, utcnow

from quota_svc.models import Base


class Adjustment(Base):
    """A signed correction of a pool's credited amount; posted only on approval."""

    __tablename__ = "adjustments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    pool_id: Mapped[str] = mapped_column(String(120))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
