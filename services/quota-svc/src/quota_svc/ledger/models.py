"""Ledger tables: pools (总量池) and the append-only journal (台账分录)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, UTCDateTime, utcnow

from quota_svc.models import Base


class Pool(Base):
    """A quota pool (总量池): a district's, a park's sub-pool or a priority reserve.
    The CHECKs are the last line of defence; the code checks balances first."""

    __tablename__ = "pools"
    __table_args__ = (
        CheckConstraint("credited_kg >= 0", name="ck_pools_credited"),
        CheckConstraint("reserved_kg >= 0", name="ck_pools_reserved"),
        CheckConstraint("allocated_kg >= 0", name="ck_pools_allocated"),
        CheckConstraint("credited_kg - reserved_kg - allocated_kg >= 0", name="ck_pools_available"),
    )

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    district: Mapped[str] = mapped_column(String(6), index=True)
    pollutant: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    park_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    credited_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    allocated_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Effective time of the pool's latest entry: a new entry may not predate it,
    #: so "balance at" a moment is the balance after the last entry before it.
    last_effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class JournalEntry(Base):
    """One posting to one pool. Never updated or deleted: corrections are
    reversing entries. Stores the pool's balance after it, so a past balance is
    one lookup and replaying the journal reconciles with the pool row."""

    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_pool_effective", "pool_id", "effective_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(20))
    amount_kg: Mapped[int] = mapped_column(BigInteger)
    idempotency_id: Mapped[str] = mapped_column(String(200), unique=True)
    reservation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reclaim_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    credited_after_kg: Mapped[int] = mapped_column(BigInteger)
    reserved_after_kg: Mapped[int] = mapped_column(BigInteger)
    allocated_after_kg: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: What else the entry belongs to: swap:<id>, trade:<id>, debt:<id>…
    ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
