"""What the checks share: states, categories, entry codes."""

from __future__ import annotations

import json
from typing import Any

from quota_svc.pollutants.rules import POLLUTANTS

DECIDED = ("approved", "rejected", "withdrawn")
PERMIT_CATEGORIES = ("key", "simplified")
#: The pollutants quota-svc keeps pools of (a closure frees a candidate of each).
KEPT_POLLUTANTS = frozenset(POLLUTANTS)
RECLAIMABLE = ("closure", "process_closed", "other")
#: Entry code -> (credited, reserved, allocated) sign of its amount.
DELTAS = {
    "baseline": (1, 0, 0),
    "reclaim_credit": (1, 0, 0),
    "reduction_credit": (1, 0, 0),
    "transfer": (1, 0, 0),
    "adjustment": (1, 0, 0),
    "reserve": (0, 1, 0),
    "allocate": (0, -1, 1),
    "release": (0, -1, 0),
    "expire": (0, -1, 0),
    "advance": (1, 0, 0),
    "repay": (-1, 0, 0),
    "swap_in": (1, 0, 0),
    "swap_out": (-1, -1, 0),
    "trade_in": (1, 0, 1),
    "trade_out": (-1, 0, -1),
}
PERMIT_STEPS = (
    "permit.issue",
    "permit.change",
    "permit.renew",
    "permit.suspend",
    "permit.reinstate",
    "permit.revoke",
    "permit.cancel",
    "permit.expire",
)


def as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value)
