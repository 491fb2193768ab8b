"""Tables of grades (with history), the guarantee list, per-plant plans and
the effective-dated emergency policy table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from svc_common.types import BigIntPK, JSONType, UTCDateTime

from supervision_svc.models import Base


class GradeRecord(Base):
    """One grading of an enterprise (绩效分级). Records are never changed: a
    new grading is a new record; the grade on a day is the latest record set
    whose validity covers that day."""

    __tablename__ = "grade_records"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(6))
    grade: Mapped[str] = mapped_column(String(10))
    benchmark: Mapped[str] = mapped_column(String(10))
    industry: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    basis: Mapped[str] = mapped_column(String(1000))
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("grade IN ('A', 'B', 'C', 'D', 'leading')", name="ck_grades_grade"),
        CheckConstraint("benchmark IN ('national', 'tianjin', 'none')", name="ck_grades_bench"),
        CheckConstraint("valid_from <= valid_to", name="ck_grades_validity"),
        Index("ix_grades_uscc", "uscc", "set_at"),
        Index("ix_grades_district", "district", "valid_to"),
    )


class GuaranteeEntry(Base):
    """An enterprise on the guarantee list (保障性清单): livelihood, national
    strategy, international competition or a major project; the most it may
    be asked to do in an alert. Ending an entry sets its `ended_at`."""

    __tablename__ = "guarantee_entries"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(6))
    reason: Mapped[str] = mapped_column(String(30))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    allowed_measure: Mapped[dict[str, Any]] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PlantPlan(Base):
    """A per-plant plan (一厂一策): the enterprise's own measure at an alert
    level, which replaces the policy table's."""

    __tablename__ = "plant_plans"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18))
    district: Mapped[str] = mapped_column(String(6))
    level: Mapped[str] = mapped_column(String(10))
    measure: Mapped[dict[str, Any]] = mapped_column(JSONType)
    note: Mapped[str] = mapped_column(String(1000))
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("uscc", "level", name="uq_plant_plans_uscc_level"),)


class EmergencyPolicy(Base):
    """A version of the emergency policy table (重污染天气应急减排措施), in
    force from `effective_from` (Beijing date) until the next version."""

    __tablename__ = "emergency_policies"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    effective_from: Mapped[dt.date] = mapped_column(Date, unique=True)
    rules: Mapped[list[Any]] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
