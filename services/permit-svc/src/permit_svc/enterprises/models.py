"""Tables of the classification table and of enterprises."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import UTCDateTime

from permit_svc.models import Base


class Industry(Base):
    """An industry of the classification table and its management category (管理类别)."""

    __tablename__ = "industries"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        CheckConstraint(
            "category IN ('key', 'simplified', 'registration')", name="ck_industries_category"
        ),
    )


class Enterprise(Base):
    """A fixed pollution source (固定污染源), keyed by its USCC. `category` is
    derived from the industry and kept in step when the table is replaced."""

    __tablename__ = "enterprises"
    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    industry_code: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(500), default="")
    operating_status: Mapped[str] = mapped_column(String(20), default="operating")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "category IN ('key', 'simplified', 'registration')", name="ck_enterprises_category"
        ),
        CheckConstraint(
            "operating_status IN ('operating', 'suspended', 'closed')",
            name="ck_enterprises_operating_status",
        ),
        Index("ix_enterprises_district_category", "district", "category", "uscc"),
    )
