"""Tables of inspection plans, inspections and their findings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import JSONType, UTCDateTime

from supervision_svc.models import Base


class InspectionPlan(Base):
    """A double-random draw (双随机抽查计划), reproducible from its seed: the
    candidates with their tiers and weights, the inspector pool, the method
    and the selection are kept with it (rules.DrawInputs)."""

    __tablename__ = "inspection_plans"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    period: Mapped[str] = mapped_column(String(10))
    seed: Mapped[int] = mapped_column(BigInteger)
    requested_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_share: Mapped[str | None] = mapped_column(String(10), nullable=True)
    population: Mapped[int] = mapped_column(Integer)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONType)
    candidates: Mapped[list[Any]] = mapped_column(JSONType)
    selection: Mapped[list[Any]] = mapped_column(JSONType)
    #: The inspectors the second random drew from, in the one form, sorted;
    #: None for a plan drawn before the pool was kept (migration 0004).
    inspector_pool: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    draw_method: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    #: A draw reads the district's plans (by the index's first column) for
    #: one whose period overlaps its own (service.create_plan); not unique:
    #: plans drawn twice, or for overlapping periods, before are kept.
    __table_args__ = (Index("ix_inspection_plans_district_period", "district", "period"),)


class Inspection(Base):
    """An on-site inspection (执法检查) by at least two inspectors."""

    __tablename__ = "inspections"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    inspection_no: Mapped[str] = mapped_column(String(40), unique=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    inspected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    inspectors: Mapped[list[str]] = mapped_column(JSONType)
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("inspection_plans.id"), nullable=True)
    items: Mapped[list[Any]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_inspections_district_at", "district", "inspected_at"),)


class Finding(Base):
    """A problem found in an inspection (发现问题); it may open an enforcement case."""

    __tablename__ = "findings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("inspections.id"), index=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    item: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(String(1000))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'case_opened', 'rectified')", name="ck_findings_status"
        ),
        CheckConstraint("severity IN ('minor', 'serious')", name="ck_findings_severity"),
        Index("ix_findings_district_found", "district", "found_at"),
    )
