"""The registration table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Date, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from permit_svc.models import Base


class Registration(Base):
    """A discharge registration (排污登记): numbered and valid on filing."""

    __tablename__ = "registrations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    registration_no: Mapped[str] = mapped_column(String(24), unique=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    industry_code: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    status_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'cancelled', 'expired')", name="ck_registrations_status"
        ),
        Index("ix_registrations_district_status", "district", "status", "valid_to"),
        # One registration in force per enterprise, even under concurrent filings.
        Index(
            "uq_registrations_active_uscc",
            "uscc",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )
