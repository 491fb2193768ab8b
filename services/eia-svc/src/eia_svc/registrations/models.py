"""Registration-form filings and the filing-number counters."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from eia_svc.models import Base


class RegistrationRow(Base):
    """A registration-form filing (登记表备案), numbered at once with no human."""

    __tablename__ = "registrations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filing_no: Mapped[str] = mapped_column(String(40), unique=True)
    filer: Mapped[str] = mapped_column(String(200))
    row_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    project_name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18))
    enterprise_name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    project_type: Mapped[str] = mapped_column(String(40))
    industry_code: Mapped[str] = mapped_column(String(20))
    vocs_increment_kg: Mapped[int] = mapped_column(BigInteger)
    control_unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    park_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: filed | revoked
    status: Mapped[str] = mapped_column(String(20))
    #: Post-hoc check (事后抽查): None when not sampled, else pending | cleared | revoked.
    review_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        UniqueConstraint("filer", "row_key", name="uq_registrations_filer_row_key"),
        Index("ix_registrations_review", "review_status", "district", "filed_at"),
        Index("ix_registrations_filer", "filer", "filed_at"),
    )


class FilingNumberCounter(Base):
    """The last number handed out per series, district and year; its row is the
    lock that keeps numbers unique and gap-free under concurrency."""

    __tablename__ = "filing_number_counters"
    series: Mapped[str] = mapped_column(String(10), primary_key=True)
    district: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)
