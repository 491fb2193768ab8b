"""Pure rules of the register read model."""

from __future__ import annotations

import datetime as dt

VOCS = "VOCs"
NOX = "NOx"
#: Permit statuses under which the enterprise may discharge.
IN_FORCE = frozenset({"issued"})


def newer(incoming: dt.datetime, kept: dt.datetime | None) -> bool:
    """Last writer wins by permit-svc's own time; equal times re-apply (idempotent)."""
    return kept is None or incoming >= kept


def permit_valid_on(status: str, valid_to: dt.date | None, day: dt.date) -> bool:
    return status in IN_FORCE and (valid_to is None or day <= valid_to)
