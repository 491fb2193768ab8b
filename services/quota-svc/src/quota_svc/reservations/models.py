"""Reservation rows: a held quota need (a two-phase pending transfer)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.db import by_name
from svc_common.types import JSONType, UTCDateTime, utcnow

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
        # An enterprise's reservations, oldest first (the list by uscc).
        Index("ix_reservations_uscc", "uscc", "created_at", "id"),
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
    #: The lots the hold drew on, oldest first: [[lot_id, kg], ...].
    lots: Mapped[Any] = mapped_column(JSONType, nullable=True)


@dataclass
class ReservationRow:
    """A reservation row as plain values, for the Core write path: the same
    attribute names as `Reservation`, no ORM state."""

    id: str
    idempotency_id: str
    project_ref: str
    uscc: str | None
    filing_id: str | None
    attempt: int
    district: str
    pollutant: str
    pool_id: str
    increment_kg: int
    offset_ratio_hundredths: int
    held_kg: int
    allocated_kg: int
    released_kg: int
    status: str
    release_reason: str | None
    note: str | None
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str | None
    lots: list[list[int]] | None

    @classmethod
    def of(cls, row: Any) -> ReservationRow:
        """From a SQLAlchemy row or a driver record (asyncpg's, by name)."""
        return cls(**by_name(row))

    def values(self) -> dict[str, Any]:
        """Column values, for an INSERT."""
        return {f: getattr(self, f) for f in _FIELDS}


_FIELDS = tuple(f.name for f in fields(ReservationRow))
assert set(_FIELDS) == set(Reservation.__table__.c.keys()), "ReservationRow lags the table"
