"""The table of parked filings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from permit_svc.models import Base


class ParkedFiling(Base):
    """An approved EIA filing (eia.filing.approved) whose permit application
    could not be drafted when it arrived, with why (`reason`): `waiting`
    until the cause is fixed, then `drafted` (`permit_id`: the application,
    None when the industry turned out to be under registration management
    and the enterprise files a registration itself). One per filing."""

    __tablename__ = "parked_filings"
    filing_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18))
    enterprise_name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    industry_code: Mapped[str] = mapped_column(String(8))
    project_ref: Mapped[str] = mapped_column(String(100))
    #: The project's approved VOCs increment, whole kilograms (as permits keep it).
    vocs_kg: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10))
    drafted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    permit_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        CheckConstraint("state IN ('waiting', 'drafted')", name="ck_parked_filings_state"),
        # The upload's lookup (waiting, by code) and the list (by district, oldest first).
        Index("ix_parked_filings_state_code", "state", "industry_code"),
        Index("ix_parked_filings_state_district", "state", "district", "received_at"),
    )
