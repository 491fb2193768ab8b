"""Request and response bodies of the permit API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from svc_common.errors import FieldValueError
from svc_common.events.schemas.permit import CancelReason
from svc_common.i18n import msg
from svc_common.types import (
    PROJECT_REF_FORMS,
    Day,
    ProjectRef,
    SignedTonnes,
    Tonnes,
    VisibleText,
    kg_to_tonnes,
    tonnes_to_kg,
)
from svc_common.uscc import (
    PERMIT_NO_LENGTH,
    PERMIT_NO_RE,
    USCC,
    permit_no_problem,
    validate_uscc,
)

from permit_svc.permits.rules import (
    POLLUTANTS,
    STATUTORY_TERM_YEARS,
    ApplicationKind,
    PermitStatus,
    in_order,
    longest_valid_to,
)
from permit_svc.prechecks.schemas import PrecheckOut


def validate_permit_no(number: str) -> str:
    """`number` if it is a certificate's number, else a ValueError saying why."""
    if problem := permit_no_problem(number):
        raise ValueError(problem)
    return number


#: A query or path naming a permit by its certificate's number (许可证编号).
PermitNo = Annotated[
    str,
    AfterValidator(validate_permit_no),
    WithJsonSchema(
        {
            "type": "string",
            "format": "permit-no",
            "pattern": "^[0-9A-HJ-NP-RTUW-Y]{18}[0-9]{3}P$",
            "minLength": PERMIT_NO_LENGTH,
            "maxLength": PERMIT_NO_LENGTH,
            "description": "a permit certificate's number (许可证编号): the holder's unified "
            "social credit code, 3 digits, P",
            "examples": ["91120119000000005Q001P"],
        }
    ),
]


class PollutantAmountIn(BaseModel):
    """An amount of one pollutant in tonnes (exact decimals, ≤ 3 places)."""

    model_config = ConfigDict(extra="forbid")
    pollutant: Literal["VOCs", "NOx", "SO2", "PM", "COD", "NH3-N", "TN", "TP"]
    amount_t: Tonnes


class PollutantLimit(PollutantAmountIn):
    """A permitted amount of one pollutant, t/a (exact decimals, ≤ 3 places)."""


Amounts = TypeVar("Amounts", bound=PollutantAmountIn)


def unique_pollutants(items: list[Amounts]) -> list[Amounts]:
    """`items` when each pollutant is listed once, else a ValueError naming it
    (a field validator of every list of amounts)."""
    seen = set()
    for p in items:
        if p.pollutant in seen:
            raise ValueError(msg(f"{p.pollutant} is listed twice", f"{p.pollutant} 重复列出"))
        seen.add(p.pollutant)
    return items


def limits_to_kg(items: list[PollutantLimit]) -> dict[str, int]:
    return {p.pollutant: tonnes_to_kg(p.amount_t) for p in items}


def kg_to_limits(amounts: dict[str, int]) -> list[PollutantLimit]:
    return [PollutantLimit(pollutant=p, amount_t=kg_to_tonnes(kg)) for p, kg in in_order(amounts)]


class PermitApplication(BaseModel):
    """An application (申请) for a discharge permit."""

    model_config = ConfigDict(extra="forbid")
    uscc: USCC
    pollutants: list[PollutantLimit] = Field(min_length=1, max_length=len(POLLUTANTS))
    # Matched exactly against quota-svc's allocations of the project: a ref
    # with spaces around it or an invisible character in it matched none,
    # and a full-width one is folded as quota-svc folds it.
    project_ref: ProjectRef | None = Field(
        None,
        description=f"the new or expanded project this permit is for; {PROJECT_REF_FORMS}",
    )

    _uscc = field_validator("uscc")(validate_uscc)
    _unique = field_validator("pollutants")(unique_pollutants)


class PermitChange(BaseModel):
    """A change (变更): the full new list of permitted amounts and why."""

    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    pollutants: list[PollutantLimit] = Field(min_length=1, max_length=len(POLLUTANTS))
    reason: Annotated[str, VisibleText(500)]

    _unique = field_validator("pollutants")(unique_pollutants)


class Reason(BaseModel):
    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Annotated[str, VisibleText(500)]


class OptionalReason(BaseModel):
    # Optional; given, it must show something.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Annotated[str, VisibleText(500)] | None = None


class Cancellation(BaseModel):
    """A cancellation (注销) and its reason; closure frees the permitted amounts."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: CancelReason
    note: Annotated[str, VisibleText(500)] | None = None


class ExistingPermit(BaseModel):
    """A certificate already issued before this register (a bulk-import row).
    Its term is at most the statutory five years; it may start in the future
    (a renewal issued ahead of its term), and then counts only from its start."""

    model_config = ConfigDict(extra="forbid")
    uscc: USCC
    permit_no: str | None = None
    pollutants: list[PollutantLimit] = Field(min_length=1, max_length=len(POLLUTANTS))
    valid_from: Day
    valid_to: Day

    _uscc = field_validator("uscc")(validate_uscc)
    _unique = field_validator("pollutants")(unique_pollutants)

    @model_validator(mode="after")
    def _check(self) -> ExistingPermit:
        if self.valid_to < self.valid_from:
            raise FieldValueError(
                "valid_to", msg("valid_to is before valid_from", "valid_to 早于 valid_from")
            )
        if self.valid_to > longest_valid_to(self.valid_from):
            years = STATUTORY_TERM_YEARS
            raise FieldValueError(
                "valid_to",
                msg(
                    f"is more than {years} years after valid_from: a discharge permit's term "
                    f"is {years} years (at most {longest_valid_to(self.valid_from).isoformat()})",
                    f"晚于 valid_from 超过 {years} 年：排污许可证有效期为 {years} 年"
                    f"（最晚 {longest_valid_to(self.valid_from).isoformat()}）",
                ),
            )
        if self.permit_no is not None and (
            not PERMIT_NO_RE.fullmatch(self.permit_no) or not self.permit_no.startswith(self.uscc)
        ):
            raise FieldValueError(
                "permit_no",
                msg(
                    "permit_no must be the USCC + 3 digits + 'P'",
                    "permit_no 必须是统一社会信用代码 + 3 位数字 + P",
                ),
            )
        return self


class PermitOut(BaseModel):
    id: str
    permit_no: str | None
    uscc: str
    enterprise_name: str
    district: str
    industry_code: str
    category: Literal["key", "simplified"]
    status: PermitStatus
    last_action: str
    allowed_actions: list[str]
    pollutants: list[PollutantLimit]
    vocs_t: Tonnes
    quota_drawn_t: Tonnes
    project_ref: str | None
    source_filing_id: str | None
    kind: ApplicationKind = Field(
        description="`change`: an application for a change (变更申请) of the enterprise's "
        "permit in force, `changes_permit_no`, carrying the increments in `pollutants`; "
        "issuing it merges them into that permit (核准变更) and ends it `merged`. "
        "`new`: any other permit"
    )
    changes_permit_no: str | None = Field(
        description="the permit a change application changes (or, merged, went into)"
    )
    valid_from: dt.date | None
    valid_to: dt.date | None
    renewal_due: dt.date | None
    status_reason: str | None
    cancel_reason: str | None
    prechecks: list[PrecheckOut] | None = Field(
        description="the pre-acceptance checks judged when it was applied for "
        "(受理时校验结果), and again when quota was learned for it while an application; "
        "said in the caller's language; null for a permit applied for "
        "before they were kept, or imported"
    )
    attention: int = Field(description="how many of `prechecks` did not pass")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ChangeOut(BaseModel):
    pollutant: str
    before_t: Tonnes
    after_t: Tonnes
    delta_t: SignedTonnes
