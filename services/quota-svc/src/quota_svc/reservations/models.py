"""Reservation rows: a held quota need (a two-phase pending transfer)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime, utcnow

from quota_svc.models import Base

_ACTIVE = text("status IN ('held', 'allocated')")


class Reservation(Base):
    """A project's quota need (项目总量需求) held in a pool; resolves once, to
    allocated, released or expired."""

    __tablename__ = "reservations"
    __table_args__ = (
        # One live reservation per project: a second hold for it is refused.
        Index(
            "uq_reservations_live_project",
            "project_ref",
            unique=True,
            postgresql_where=_ACTIVE,
            sqlite_where=_ACTIVE,
        ),
        Index("ix_reservations_due", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_id: Mapped[str] = mapped_column(String(200), unique=True)
    project_ref: Mapped[str] = mapped_column(String(100))
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    filing_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    pool_id: Mapped[str] = mapped_column(String(120))
    increment_kg: Mapped[int] = mapped_column(BigInteger)
    offset_ratio_hundredths: Mapped[int] = mapped_column(Integer)
    held_kg: Mapped[int] = mapped_column(BigInteger)
    allocated_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    released_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))
    release_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
