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


def permit_valid_on(
    status: str, valid_from: dt.date | None, valid_to: dt.date | None, day: dt.date
) -> bool:
    """A permit is in force on `day` (a Beijing date) when it is issued and
    valid_from ≤ day ≤ valid_to: a certificate whose validity has not begun
    does not count yet. A missing date is no bound on that side (a permit
    learned without one)."""
    return (
        status in IN_FORCE
        and (valid_from is None or valid_from <= day)
        and (valid_to is None or day <= valid_to)
    )
