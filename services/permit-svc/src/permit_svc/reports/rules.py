"""Pure rules of the reports: exact percentages, and which steps of the audit
trail leave a permit or a registration in force."""

from __future__ import annotations

from decimal import Decimal

from svc_common.rates import completion_percent


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal, truncated (220/274 →
    80.2; 4549/4551 → 99.9, never 100.0 with a source uncovered): the
    shared rule of coverage and completion rates (`svc_common.rates`,
    which refuses a part outside 0..whole); None when there is nothing to
    count."""
    return completion_percent(part, whole)


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
