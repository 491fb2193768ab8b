"""Effective-dated district policy rows (offset ratio, hold period)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, UTCDateTime, utcnow

from quota_svc.models import Base


class DistrictPolicy(Base):
    """Offset ratio (倍量削减替代) and hold days for a district and pollutant from
    `effective_from` on. Rows are only added: the history shows what was in force."""

    __tablename__ = "district_settings"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    district: Mapped[str] = mapped_column(String(6))
    pollutant: Mapped[str] = mapped_column(String(20))
    offset_ratio_hundredths: Mapped[int] = mapped_column(Integer)
    hold_days: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: True: no explicit ratio; the district's air quality decides it.
    follows_air_quality: Mapped[bool] = mapped_column(Boolean, default=False)
    set_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
