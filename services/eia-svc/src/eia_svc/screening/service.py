"""Turning screening issues into one problem+json answer."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.errors import FieldError, Unprocessable

from eia_svc.classification.rules import ProjectType
from eia_svc.classification.service import find_type
from eia_svc.control_units.rules import ControlUnit
from eia_svc.control_units.service import find_unit
from eia_svc.screening.rules import Issue, ProjectFacts


async def lookups(
    s: AsyncSession, facts: ProjectFacts
) -> tuple[dict[str, ProjectType], dict[str, ControlUnit]]:
    """Just the table rows one submission needs."""
    types: dict[str, ProjectType] = {}
    units: dict[str, ControlUnit] = {}
    if facts.project_type and (pt := await find_type(s, facts.project_type)):
        types[pt.code] = pt
    if facts.control_unit and (unit := await find_unit(s, facts.control_unit)):
        units[unit.code] = unit
    return types, units


def field_errors(issues: list[Issue]) -> list[FieldError]:
    return [FieldError(field=i.field, message=i.message, type=i.kind) for i in issues]


def raise_if_any(issues: list[Issue]) -> None:
    """422 naming each field; an exempt type or a banned industry leads the detail,
    since that is the answer the submitter most needs."""
    if not issues:
        return
    lead = next((i for i in issues if i.kind in ("exempt", "banned", "wrong_category")), None)
    extra: Mapping[str, object] = {}
    if lead is not None:
        detail = lead.message
        extra = {"reason": lead.kind, **lead.extra}
        if lead.kind == "exempt":
            extra = {**extra, "needs_filing": False}
    else:
        detail = "; ".join(f"{i.field}: {i.message}" for i in issues[:5])
    raise Unprocessable(detail, errors=field_errors(issues), **extra)
