"""A district's air-quality status over time, and the status → ratio table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, UTCDateTime, utcnow

from quota_svc.models import Base


class AirQualityStatus(Base):
    """The district's air quality (空气质量状况) from `effective_from` on; rows
    are only added, so the history shows what was in force."""

    __tablename__ = "air_quality"
    __table_args__ = (Index("ix_air_quality_lookup", "district", "effective_from"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    district: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(24))
    effective_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    set_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AirQualityRatio(Base):
    """The offset ratio an air-quality status calls for (admin-set)."""

    __tablename__ = "air_quality_ratios"
    __table_args__ = (CheckConstraint("offset_ratio_hundredths > 0", name="ck_aq_ratio"),)

    status: Mapped[str] = mapped_column(String(24), primary_key=True)
    offset_ratio_hundredths: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
