"""The read model of quota allocations learned from quota.allocated."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from permit_svc.models import Base


class QuotaAllocation(Base):
    """Quota allocated to a project (总量指标分配), one row per reservation.
    `increment_kg` is what the project may add to its permits: what the
    allocated quota backs (amount ÷ offset ratio, rounded down, at most the
    project's increment); `amount_kg` is what the district pool paid."""

    __tablename__ = "quota_allocations"
    reservation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_ref: Mapped[str] = mapped_column(String(100), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), index=True, nullable=True)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(40))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    increment_kg: Mapped[int] = mapped_column(BigInteger)
    source_event_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
