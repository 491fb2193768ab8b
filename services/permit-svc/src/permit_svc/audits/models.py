"""Tables of permit quality audits and their findings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from permit_svc.models import Base


class PermitAudit(Base):
    """One quality audit (许可质量审核) of a permit against the issuing rules."""

    __tablename__ = "permit_audits"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    permit_id: Mapped[str] = mapped_column(ForeignKey("permits.id"), index=True)
    uscc: Mapped[str] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(6), index=True)
    result: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    audited_by: Mapped[str] = mapped_column(String(200))
    audited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("result IN ('pass', 'findings')", name="ck_permit_audits_result"),
    )


class AuditFinding(Base):
    """A finding of an audit, to be rectified (整改) by its deadline."""

    __tablename__ = "audit_findings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("permit_audits.id"), index=True)
    description: Mapped[str] = mapped_column(String(1000))
    rectification_deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    rectified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rectified_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rectification_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'rectified')", name="ck_audit_findings_status"),
        Index("ix_audit_findings_open", "status", "rectification_deadline"),
    )
