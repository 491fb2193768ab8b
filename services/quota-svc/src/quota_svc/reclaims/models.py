"""Reclaim candidate rows (收回候选)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime, utcnow

from quota_svc.models import Base


class Reclaim(Base):
    """Quota a closed source or a verified reduction frees; credited to the pool
    only when an officer of the district confirms it. Keeps its provenance."""

    __tablename__ = "reclaims"
    #: One candidate per source event and pollutant (an event may free several).
    __table_args__ = (
        UniqueConstraint("source_event_id", "pollutant", name="uq_reclaims_event_pollutant"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    district: Mapped[str] = mapped_column(String(6), index=True)
    pollutant: Mapped[str] = mapped_column(String(20))
    pool_id: Mapped[str] = mapped_column(String(120))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    permit_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: `rules.ReclaimReason` of a cancelled permit's candidate; None for
    #: other sources. A code, so no one reads it back from `note`.
    reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reject_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class PermitBacking(Base):
    """Per permit and pollutant, the reclaimable ceiling (可收回上限) the
    ledger keeps from permit-svc's events (`rules.Backing`): a decrease or a
    cancellation frees at most `backed_kg`, so raising a permit without
    quota and cutting it back makes nothing. `last_event_id` is the event
    that last changed it (a redelivered one changes nothing)."""

    __tablename__ = "permit_backing"
    __table_args__ = (
        CheckConstraint(
            "backed_kg >= 0 AND backed_kg <= amount_kg", name="ck_permit_backing_amounts"
        ),
    )

    permit_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    pollutant: Mapped[str] = mapped_column(String(20), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    backed_kg: Mapped[int] = mapped_column(BigInteger)
    #: What the permit's events freed in all (the reclaim candidates its
    #: cancellation or cuts made): an import checks those candidates by it.
    freed_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    last_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
