"""Response bodies of the pre-acceptance checks."""

from __future__ import annotations

from pydantic import BaseModel, Field

from permit_svc.prechecks.rules import Check, CheckCode, attention


class PrecheckOut(BaseModel):
    """One check of an application: passed, or what needs attention."""

    code: CheckCode
    passed: bool
    field: str | None = Field(
        description="the request field it concerns (`pollutants.0.amount_t`), or null"
    )
    message: str = Field(description="what it found, in the caller's language")


class PrecheckReport(BaseModel):
    """The checks of an application judged now."""

    accepted: bool = Field(
        description="`POST /permit/permits` would accept it: no refusal check failed"
    )
    attention: int = Field(description="how many checks did not pass")
    prechecks: list[PrecheckOut]


def out(c: Check) -> PrecheckOut:
    """A check as the API says it, its message in the request's language."""
    return PrecheckOut(code=c.code, passed=c.passed, field=c.field, message=c.message())


def report(checks: list[Check], refused: bool) -> PrecheckReport:
    return PrecheckReport(
        accepted=not refused,
        attention=attention(checks),
        prechecks=[out(c) for c in checks],
    )
