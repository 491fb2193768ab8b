"""Pure rules of the reports: exact percentages, and which steps of the audit
trail leave a permit or a registration in force."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal, rounded half up, exactly
    (220/274 → 80.3); None when there is nothing to count."""
    if whole <= 0:
        return None
    if not 0 <= part <= whole:
        raise ValueError(f"part {part} is outside 0..{whole}")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


#: The audit-trail actions that set a permit's status (permits/rules.py's
#: TRANSITIONS, plus the application), and those after which it is issued
#: (in force, not suspended). `permit.import` stands for a certificate
#: imported (entered issued) with no step since.
PERMIT_STATUS_ACTIONS = (
    "permit.apply",
    "permit.issue",
    "permit.reject",
    "permit.change",
    "permit.renew",
    "permit.suspend",
    "permit.reinstate",
    "permit.revoke",
    "permit.cancel",
    "permit.expire",
)
PERMIT_ACTIONS_IN_FORCE = (
    "permit.import",
    "permit.issue",
    "permit.change",
    "permit.renew",
    "permit.reinstate",
)
#: The steps that end a registration (it is never reinstated).
REGISTRATION_ENDING_ACTIONS = ("registration.cancel", "registration.expire")
