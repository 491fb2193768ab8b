"""The permit table. Pollutant amounts are integer kilograms per year."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from permit_svc.models import Base


class Permit(Base):
    """A discharge permit certificate (排污许可证), from application to its end.

    `pollutants` maps pollutant code → permitted kg/a; `vocs_kg` repeats the
    VOCs amount for queries. `quota_drawn_kg` is how much allocated quota
    this permit has drawn (总量控制): it only ever grows, see quota_backing.
    """

    __tablename__ = "permits"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    permit_no: Mapped[str | None] = mapped_column(String(24), unique=True, nullable=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    industry_code: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    last_action: Mapped[str] = mapped_column(String(20))
    pollutants: Mapped[dict[str, int]] = mapped_column(JSONType)
    vocs_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    quota_drawn_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    project_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    source_filing_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    #: The first day of the permit's unbroken validity: its first term's
    #: start. A renewal (延续) moves `valid_from` to the new term, not this.
    in_force_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: An application drafted as a change (变更申请) of the enterprise's permit
    #: in force: that permit's id; its `pollutants` are the increments it
    #: carries. Issuing it merges it into that permit (`merged`), which it
    #: names then too, however it was drafted. None for any other permit.
    changes_permit_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: The pre-acceptance checks (受理时校验) judged when it was applied for, and
    #: again when quota is learned for it while `applied` (prechecks.service):
    #: each {code, passed, field, …its message's parameters} (prechecks.rules.Check);
    #: None for a permit applied for before they were kept, or imported.
    prechecks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    #: How many of `prechecks` did not pass.
    attention: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('applied', 'rejected', 'merged', 'issued', 'suspended', 'revoked',"
            " 'cancelled', 'expired')",
            name="ck_permits_status",
        ),
        CheckConstraint("category IN ('key', 'simplified')", name="ck_permits_category"),
        CheckConstraint("vocs_kg >= 0 AND quota_drawn_kg >= 0", name="ck_permits_amounts"),
        Index("ix_permits_district_status", "district", "status", "valid_to"),
    )
