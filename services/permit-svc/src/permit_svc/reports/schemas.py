"""Response bodies of the reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

#: A percentage with one decimal, sent as a string so it stays exact ("80.2"),
#: truncated: 100.0 only when all are counted (`svc_common.rates`).
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
    #: Closed enterprises (关停) in the districts: no longer fixed sources,
    #: so in none of the figures above.
    closed_sources: int


class AuditProgressReport(BaseModel):
    """Audit progress (许可质量审核进度): valid permits audited at least once."""

    districts: list[str] | None
    as_of: dt.date
    valid_permits: int
    audited: int
    not_audited: int
    audited_percent: Percent | None
    #: Permits still in force whose enterprise is closed: not valid permits of
    #: the district (coverage does not count their holders either); they are
    #: to be cancelled (注销).
    permits_of_closed_sources: int
