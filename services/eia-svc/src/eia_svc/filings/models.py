"""Report / report-form filings as stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from eia_svc.models import Base


class FilingRow(Base):
    """An EIA report (报告书) or report form (报告表) filing under review."""

    __tablename__ = "filings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18))
    enterprise_name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    project_type: Mapped[str] = mapped_column(String(40))
    industry_code: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    major_project: Mapped[bool] = mapped_column(Boolean)
    major_kind: Mapped[str | None] = mapped_column(String(30), nullable=True)
    park_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    control_unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    vocs_increment_kg: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    evaluation_done: Mapped[bool] = mapped_column(Boolean, default=False)
    review_done: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitted_role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    evaluation_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    quota_status: Mapped[str] = mapped_column(String(20))
    quota_attempt: Mapped[int] = mapped_column(Integer, default=0)
    reservation_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    quota_shortfall_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quota_allocated_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: When quota-svc was last asked (accept, retry or re-ask), and how many
    #: times it was asked again for want of an answer.
    quota_asked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When quota-svc was first asked for the current request (accept, or an
    #: officer's retry), kept across the re-asks: how long the saga has
    #: waited (the stuck list, `older_than`).
    quota_first_asked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    quota_asks: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_filings_district_status", "district", "status", "created_at"),
        Index("ix_filings_due", "status", "due_at"),
        Index("ix_filings_quota_pending", "quota_status", "quota_asked_at"),
    )
