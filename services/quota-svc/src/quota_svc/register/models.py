"""The public register: a queue written in each change's transaction, and the
hash chain a periodic job appends it to."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import BigInteger, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, UTCDateTime

from quota_svc.models import Base


class RegisterQueued(Base):
    """A public record waiting to be chained (written with the change itself,
    so none is ever missing)."""

    __tablename__ = "register_queue"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    district: Mapped[str | None] = mapped_column(String(6), nullable=True)
    pollutant: Mapped[str | None] = mapped_column(String(20), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    amount_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refs: Mapped[str] = mapped_column(Text)


class RegisterEntry(Base):
    """One entry of the public register (公开登记簿): its content, the hash of
    the previous entry and its own hash over both (a hash chain)."""

    __tablename__ = "register_entries"
    # A page filtered by district, pollutant or both reads its index in
    # sequence order: no filter scans the whole register.
    __table_args__ = (
        Index("ix_register_district", "district", "seq"),
        Index("ix_register_pollutant", "pollutant", "seq"),
        Index("ix_register_district_pollutant", "district", "pollutant", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    district: Mapped[str | None] = mapped_column(String(6), nullable=True)
    pollutant: Mapped[str | None] = mapped_column(String(20), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    amount_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refs: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


QUEUE = cast(Table, RegisterQueued.__table__)
ENTRIES = cast(Table, RegisterEntry.__table__)
