"""Tables of complaints, their clusters and (apart) complainants' personal data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from supervision_svc.models import Base

CATEGORIES = ("air", "odor", "noise", "water", "waste", "soil", "radiation", "other")
CHANNELS = ("hotline", "wechat", "web", "letter", "visit")
STATUSES = ("received", "accepted", "assigned", "replied", "closed", "rejected")
OUTCOMES = ("substantiated", "not_substantiated", "referred")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ComplaintCluster(Base):
    """Complaints reporting the same problem (重复反映), with their attention figures."""

    __tablename__ = "complaint_clusters"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    category: Mapped[str] = mapped_column(String(20))
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    first_received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reports: Mapped[int] = mapped_column(Integer)
    complainants: Mapped[int] = mapped_column(Integer)
    open_reports: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_clusters_district_last", "district", "last_received_at"),)


class Complaint(Base):
    """A complaint by the public (12369 hotline, WeChat, web, letter, visit).
    Coordinates are whole micro-degrees (exact, like every stored amount)."""

    __tablename__ = "complaints"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    district: Mapped[str] = mapped_column(String(6))
    address: Mapped[str] = mapped_column(String(300))
    lat_e6: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lng_e6: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True, index=True)
    #: A one-way key of the complainant's phone, to count distinct complainants
    #: without reading personal data; never shown, never sent.
    complainant_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    #: 首问负责: the officer who first took the complaint and answers for it.
    first_responsible: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(String(100), nullable=True)
    accept_due: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    close_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejected_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    outcome_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    #: When a statutory clock was first missed (set by the sweeper or on closing late).
    overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("complaint_clusters.id"), index=True)
    repeat: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="ck_complaints_status"),
        CheckConstraint(_in("category", CATEGORIES), name="ck_complaints_category"),
        CheckConstraint(_in("channel", CHANNELS), name="ck_complaints_channel"),
        Index("ix_complaints_dup", "district", "category", "received_at"),
        Index("ix_complaints_district_created", "district", "created_at", "id"),
        Index("ix_complaints_accepted", "district", "accepted_at"),
    )


class ComplainantContact(Base):
    """A complainant's personal data, kept apart from the complaint: read only
    for the handling district's officers, never listed for other roles, never
    in an event or the audit trail."""

    __tablename__ = "complainant_contacts"
    complaint_id: Mapped[str] = mapped_column(
        ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(50), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(30), nullable=True)
    wants_reply: Mapped[bool] = mapped_column(default=True)
