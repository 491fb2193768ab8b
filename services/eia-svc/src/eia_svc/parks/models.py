"""Parks as stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from eia_svc.models import Base


class ParkRow(Base):
    """A park (园区) with a bundled EIA (多评合一) and its VOCs sub-pool."""

    __tablename__ = "parks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    covered_project_types: Mapped[list[str]] = mapped_column(JSONType)
    vocs_subpool_kg: Mapped[int] = mapped_column(BigInteger)
    registered_by: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Whether quota-svc carved the sub-pool out of the district pool:
    #: pending (not answered yet) | funded | unfunded (with the shortfall).
    funding_status: Mapped[str] = mapped_column(String(10), default="pending")
    funding_shortfall_kg: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
