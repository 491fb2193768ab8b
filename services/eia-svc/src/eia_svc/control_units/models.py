"""Control units as stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from eia_svc.models import Base


class ControlUnitRow(Base):
    """An environmental control unit (环境管控单元) of 三线一单."""

    __tablename__ = "control_units"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(30))
    banned_industries: Mapped[list[str]] = mapped_column(JSONType)
    rule: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
