"""Pure rules of registrations: their lifecycle table."""

from __future__ import annotations

from typing import Any, Literal

from svc_common.errors import IllegalTransition
from svc_common.i18n import msg

RegistrationStatus = Literal["active", "cancelled", "expired"]

#: A registration is in force on filing (no approval); it can be changed
#: (变更) or cancelled (注销), and expires by itself at the end of its term.
TRANSITIONS: dict[str, dict[str, str]] = {
    "active": {"change": "active", "cancel": "cancelled", "expire": "expired"},
    "cancelled": {},
    "expired": {},
}
CLOCK_ACTIONS = frozenset({"expire"})
#: States and actions in Chinese, for a refused step's message.
LABELS_ZH = {
    "active": "有效",
    "cancelled": "已注销",
    "expired": "已过期",
    "change": "变更",
    "cancel": "注销",
    "expire": "期满",
}


def changes_nothing(details: dict[str, Any], new_details: dict[str, Any]) -> bool:
    """A change (变更) whose form is the registration's current one: refused,
    as a permit change that alters no amount is."""
    return details == new_details


def allowed_actions(status: str) -> list[str]:
    return [a for a in TRANSITIONS.get(status, {}) if a not in CLOCK_ACTIONS]


def next_status(status: str, action: str) -> str:
    after = TRANSITIONS.get(status, {}).get(action)
    if after is None:
        raise IllegalTransition(
            msg("registration", "排污登记"), status, action, allowed_actions(status), LABELS_ZH
        )
    return after
