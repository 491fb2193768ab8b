"""The enforcement case table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from supervision_svc.models import Base


class EnforcementCase(Base):
    """A case opened on a finding (立案), with its proposed measure; decided by
    an officer other than the proposer (four eyes), closed when rectified."""

    __tablename__ = "enforcement_cases"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(40), unique=True)
    finding_id: Mapped[str] = mapped_column(ForeignKey("findings.id"), index=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    legal_basis: Mapped[str] = mapped_column(String(500))
    facts: Mapped[str] = mapped_column(String(2000), default="")
    measure: Mapped[str] = mapped_column(String(20))
    fine_cny: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rectify_by: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    permit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    permit_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closing_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)

    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'decided', 'rejected', 'closed')", name="ck_cases_status"
        ),
        CheckConstraint(
            "measure IN ('warning', 'fine', 'rectification', 'permit_suspension')",
            name="ck_cases_measure",
        ),
        CheckConstraint("fine_cny IS NULL OR fine_cny > 0", name="ck_cases_fine"),
        CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by", name="ck_cases_four_eyes"
        ),
        Index("ix_cases_district_proposed", "district", "proposed_at"),
    )
