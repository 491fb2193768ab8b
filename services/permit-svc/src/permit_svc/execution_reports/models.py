"""The table of execution reports, every version kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from permit_svc.models import Base


class ExecutionReport(Base):
    """One version of a permit's execution report (排污许可证执行报告) for a
    period. A second filing for the period is a correction: a new version,
    `is_current`, and the one before is kept, no longer current. `emissions`
    maps pollutant → actual emissions in kg; `findings` are the plausibility
    findings (code, pollutant, reported_kg, permitted_kg) it was filed with."""

    __tablename__ = "execution_reports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    permit_id: Mapped[str] = mapped_column(ForeignKey("permits.id"))
    uscc: Mapped[str] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(6))
    period: Mapped[str] = mapped_column(String(8))
    frequency: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean)
    supersedes: Mapped[str | None] = mapped_column(String(36), nullable=True)
    emissions: Mapped[dict[str, int]] = mapped_column(JSONType)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    late: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    filed_by: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "frequency IN ('annual', 'quarterly', 'monthly')",
            name="ck_execution_reports_frequency",
        ),
        UniqueConstraint("permit_id", "period", "version", name="uq_execution_reports_version"),
        # One current version per permit and period.
        Index(
            "ux_execution_reports_current",
            "permit_id",
            "period",
            unique=True,
            postgresql_where=text("is_current"),
            sqlite_where=text("is_current"),
        ),
    )
