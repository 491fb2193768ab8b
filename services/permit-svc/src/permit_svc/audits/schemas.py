"""Request and response bodies of the audit API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from svc_common.types import Day, VisibleText, empty, nonempty, when

from permit_svc.audits.rules import AuditResult, FindingStatus


class FindingIn(BaseModel):
    # A description that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    description: Annotated[str, VisibleText(1000)]
    rectification_deadline: Day


class AuditIn(BaseModel):
    """An audit of a permit against the issuing rules (核发技术规范)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "allOf": [
                when("result", "pass", empty("findings")),
                when("result", "findings", nonempty("findings")),
            ]
        },
    )
    result: AuditResult
    findings: list[FindingIn] = Field(default_factory=list, max_length=100)
    #: Optional; given, it must show something.
    note: Annotated[str, VisibleText(1000)] | None = None


class Rectification(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: Annotated[str, VisibleText(1000)] | None = None


class FindingOut(BaseModel):
    id: str
    description: str
    rectification_deadline: dt.date
    status: FindingStatus
    overdue: bool
    rectified_at: dt.datetime | None
    rectified_by: str | None
    rectification_note: str | None


class AuditOut(BaseModel):
    id: str
    permit_id: str
    uscc: str
    district: str
    result: AuditResult
    note: str | None
    audited_by: str
    audited_at: dt.datetime
    findings: list[FindingOut]
