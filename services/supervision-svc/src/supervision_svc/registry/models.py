"""The register as supervision-svc knows it: a read model of permit-svc's
enterprise and permit events (it never reads permit-svc's tables)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from supervision_svc.models import Base


class Enterprise(Base):
    """A fixed pollution source (固定污染源) by its USCC. `source_updated_at` is
    permit-svc's time of the snapshot kept: an older snapshot never wins."""

    __tablename__ = "enterprises"
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    industry_code: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    operating_status: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500), default="")
    registration_valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    learned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_sv_enterprises_district", "district", "operating_status", "uscc"),)


class Permit(Base):
    """A discharge permit (排污许可证) with its status and permitted amounts
    (`pollutants`: pollutant → kg/a; VOCs and NOx repeated for queries)."""

    __tablename__ = "permits"
    permit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    permit_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    pollutants: Mapped[dict[str, int]] = mapped_column(JSONType)
    vocs_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    nox_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    status_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
