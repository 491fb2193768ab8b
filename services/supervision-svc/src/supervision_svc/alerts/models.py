"""The alert table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from supervision_svc.models import Base


class Alert(Base):
    """A heavy-pollution weather alert (重污染天气预警) for some districts.

    `ends_at` is the planned end; an alert lifted early (解除预警) keeps it and
    records when it was lifted (`lifted_at`, its actual end), by whom and
    why, and the alert that replaced it if a level change lifted it."""

    __tablename__ = "alerts"
    #: The list: the latest start first, a page after (starts_at, id).
    __table_args__ = (Index("ix_alerts_starts_at_id", "starts_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    level: Mapped[str] = mapped_column(String(10))
    districts: Mapped[list[str]] = mapped_column(JSONType)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    issued_by: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: The alerts this one replaced (升级/降级): lifted at its start.
    replaces: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lifted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lift_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(36), nullable=True)

    @property
    def in_force_until(self) -> dt.datetime:
        """The actual end: when it was lifted, else its planned end."""
        return self.lifted_at if self.lifted_at is not None else self.ends_at
