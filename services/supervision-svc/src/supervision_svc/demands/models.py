"""The demands list table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from supervision_svc.models import Base


class Demand(Base):
    """An item of the demands list (诉求清单) with its owner (责任人),
    deadline (办理时限) and progress (办理进展)."""

    __tablename__ = "demands"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(2000), default="")
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    owner: Mapped[str] = mapped_column(String(100))
    deadline: Mapped[dt.date] = mapped_column(Date)
    progress_percent: Mapped[int] = mapped_column(Integer, default=0)
    progress_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'done')", name="ck_demands_status"),
        CheckConstraint("progress_percent BETWEEN 0 AND 100", name="ck_demands_progress"),
        Index("ix_demands_district_status", "district", "status", "deadline"),
    )
