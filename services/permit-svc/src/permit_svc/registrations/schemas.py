"""Request and response bodies of the registration API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from svc_common.types import VisibleText
from svc_common.uscc import USCC, validate_uscc

from permit_svc.registrations.rules import RegistrationStatus


class RegistrationFiling(BaseModel):
    """A registration (排污登记表) as the enterprise files it: numbered at once."""

    model_config = ConfigDict(extra="forbid")
    uscc: USCC
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="what the form declares: discharge outlets, pollutants, treatment facilities",
    )

    _uscc = field_validator("uscc")(validate_uscc)


class RegistrationChange(BaseModel):
    """A change (变更): the form's new content and why; it must change something."""

    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    # The form's keys are kept as written, as a filing keeps them.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    details: dict[Annotated[str, StringConstraints(strip_whitespace=False)], Any]
    reason: Annotated[str, VisibleText(500)]


class RegistrationCancellation(BaseModel):
    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Annotated[str, VisibleText(500)]


class RegistrationOut(BaseModel):
    id: str
    registration_no: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: str
    status: RegistrationStatus
    allowed_actions: list[str]
    details: dict[str, Any]
    valid_from: dt.date
    valid_to: dt.date
    status_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
