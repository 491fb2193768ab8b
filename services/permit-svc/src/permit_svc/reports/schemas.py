"""Response bodies of the reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

#: A percentage with one decimal, sent as a string so it stays exact ("80.3").
Percent = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str)]


class UncoveredSource(BaseModel):
    uscc: str
    name: str
    district: str
    industry_code: str
    category: str
    needs: str


class CoverageReport(BaseModel):
    """Permit coverage (排污许可全覆盖): known fixed sources against those holding
    a valid permit or a valid registration."""

    districts: list[str] | None
    as_of: dt.date
    fixed_sources: int
    with_valid_permit: int
    with_valid_registration: int
    covered: int
    uncovered: int
    coverage_percent: Percent | None
    uncovered_sources: list[UncoveredSource]
    uncovered_listed: int


class AuditProgressReport(BaseModel):
    """Audit progress (许可质量审核进度): valid permits audited at least once."""

    districts: list[str] | None
    as_of: dt.date
    valid_permits: int
    audited: int
    not_audited: int
    audited_percent: Percent | None
