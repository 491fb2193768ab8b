"""Request and response bodies of the execution-report API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from svc_common.guard import fold_width
from svc_common.i18n import said_as
from svc_common.types import Tonnes, VisibleText

from permit_svc.execution_reports.rules import PERIOD_PATTERN, FindingCode, Frequency
from permit_svc.permits.rules import POLLUTANTS
from permit_svc.permits.schemas import PollutantAmountIn, PollutantLimit, unique_pollutants

#: A period code as the API takes it; a refusal says what it should be.
#: Typed in full-width forms ("２０２５－Ｑ３", a Chinese IME in full-width
#: mode), it is read as ASCII (guard.fold_width) before the pattern is
#: checked, as supervision-svc reads a plan's period. The pattern, checked
#: after the folding, is no longer the string's own: the document is given it.
PeriodCode = Annotated[
    str,
    AfterValidator(fold_width),
    Field(
        pattern=said_as(
            PERIOD_PATTERN,
            "is not a period: a year (2025), a quarter (2025-Q3) or a month (2025-07)",
            "不是报告期：应为年度（2025）、季度（2025-Q3）或月度（2025-07）",
        ),
        description="a year (`2025`), a quarter (`2025-Q3`) or a month (`2025-07`); "
        "full-width digits, letters and dash (as a Chinese input method types them) are "
        "read as ASCII",
        examples=["2025", "2025-Q3"],
        json_schema_extra={"pattern": PERIOD_PATTERN},
    ),
]


class EmissionIn(PollutantAmountIn):
    """Actual emissions of one pollutant in the period, tonnes (exact, ≤ 3 places)."""


class ExecutionReportIn(BaseModel):
    """An execution report (执行报告) of a permit for one period: the actual
    emissions (实际排放量) of the pollutants the permit limits."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    period: PeriodCode
    emissions: list[EmissionIn] = Field(min_length=1, max_length=len(POLLUTANTS))
    #: Optional; given, it must show something.
    note: Annotated[str, VisibleText(1000)] | None = None

    _unique = field_validator("emissions")(unique_pollutants)


class FindingOut(BaseModel):
    """A plausibility finding: the report is accepted and flagged."""

    code: FindingCode
    pollutant: str
    reported_t: Tonnes
    permitted_t: Tonnes
    message: str


class ExecutionReportOut(BaseModel):
    id: str
    permit_id: str
    uscc: str
    district: str
    period: str
    frequency: Frequency
    period_start: dt.date
    period_end: dt.date
    due_date: dt.date
    version: int
    current: bool
    supersedes: str | None
    emissions: list[PollutantLimit]
    findings: list[FindingOut]
    late: bool
    note: str | None
    filed_by: str | None = Field(
        description="the login (`sub`) of who filed this version; for a filer (an "
        "enterprise's own system) null unless it filed it itself: an officer's login "
        "is not the enterprise's to see"
    )
    filed_at: dt.datetime


class MissedReportOut(BaseModel):
    """A period whose report is overdue (逾期未报)."""

    permit_id: str
    permit_no: str | None
    uscc: str
    district: str
    category: str
    period: str
    frequency: Frequency
    period_start: dt.date
    period_end: dt.date
    due_date: dt.date
    days_overdue: int
