"""Pure rules of permits: the lifecycle as a table of allowed transitions,
permit numbers (HJ 608-2017 style), validity terms and changes of amounts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from svc_common.errors import IllegalTransition
from svc_common.i18n import msg
from svc_common.uscc import PERMIT_SUFFIX, REGISTRATION_SUFFIX

from permit_svc.calendar import add_years, validity_end

PermitStatus = Literal[
    "applied", "rejected", "merged", "issued", "suspended", "revoked", "cancelled", "expired"
]
Action = Literal[
    "issue",
    "reject",
    "merge",
    "change",
    "renew",
    "suspend",
    "reinstate",
    "revoke",
    "cancel",
    "expire",
]
#: What an application is: for a permit of its own (`new`), or a change
#: (变更申请) of the enterprise's permit in force, carrying the increments.
ApplicationKind = Literal["new", "change"]

#: status → {action: next status}. `issued` is "in force": a change (变更) or a
#: renewal (延续) keeps it in force, and `last_action` records which it was.
TRANSITIONS: dict[str, dict[str, str]] = {
    # An application is decided: issued, or refused (不予许可) with its reason;
    # a change application (变更申请) is merged into the permit it changes
    # (核准变更) when it is issued: the permit takes its increments.
    "applied": {"issue": "issued", "reject": "rejected", "merge": "merged"},
    "rejected": {},
    "merged": {},
    "issued": {
        "change": "issued",
        "renew": "issued",
        "suspend": "suspended",
        "revoke": "revoked",
        "cancel": "cancelled",
        "expire": "expired",
    },
    "suspended": {
        "reinstate": "issued",
        "revoke": "revoked",
        "cancel": "cancelled",
        "expire": "expired",
    },
    # A revoked (撤销) or expired permit is still on the register until it is
    # cancelled (注销), which is what frees its amounts.
    "revoked": {"cancel": "cancelled"},
    "expired": {"cancel": "cancelled"},
    "cancelled": {},
}
#: Actions only the statutory clock takes, never a caller.
CLOCK_ACTIONS = frozenset({"expire"})
#: Actions no caller names: issuing a change application merges it.
IMPLIED_ACTIONS = CLOCK_ACTIONS | {"merge"}
#: States and actions in Chinese, for a refused step's message (the console's words).
LABELS_ZH = {
    "applied": "申请中",
    "rejected": "不予许可",
    "merged": "已并入变更",
    "issued": "已核发",
    "suspended": "已暂停",
    "revoked": "已撤销",
    "cancelled": "已注销",
    "expired": "已过期",
    "issue": "核发",
    "reject": "不予许可",
    "merge": "核准变更",
    "change": "变更",
    "renew": "延续",
    "suspend": "暂停",
    "reinstate": "恢复",
    "revoke": "撤销",
    "cancel": "注销",
    "expire": "期满",
}
#: Statuses in which a permit authorises discharging (or may again, if suspended).
IN_FORCE = ("issued", "suspended")
#: Statuses of a permit never issued: an application undecided, refused, or
#: merged into the permit it changed.
NEVER_ISSUED = ("applied", "rejected", "merged")

#: Pollutant codes a permit may list (VOCs first: the total-quantity-controlled one).
POLLUTANTS = ("VOCs", "NOx", "SO2", "PM", "COD", "NH3-N", "TN", "TP")
VOCS = "VOCs"


def in_order(amounts: dict[str, int]) -> list[tuple[str, int]]:
    """A permit's amounts in the order of `POLLUTANTS` (as they are shown)."""
    order = {p: i for i, p in enumerate(POLLUTANTS)}
    return sorted(amounts.items(), key=lambda kv: order.get(kv[0], 99))


def allowed_actions(status: str) -> list[str]:
    """What a caller may do to a permit in `status`, for 409 answers."""
    return [a for a in TRANSITIONS.get(status, {}) if a not in IMPLIED_ACTIONS]


def next_status(status: str, action: str) -> str:
    """The status after `action`, or IllegalTransition naming the allowed actions."""
    after = TRANSITIONS.get(status, {}).get(action)
    if after is None:
        raise IllegalTransition(
            msg("permit", "许可证"), status, action, allowed_actions(status), LABELS_ZH
        )
    return after


def document_number(uscc: str, sequence: int, suffix: str) -> str:
    """USCC + 3-digit sequence + one letter: P for a permit, W for a registration."""
    if not 1 <= sequence <= 999:
        raise ValueError(f"sequence {sequence} is outside 001-999")
    return f"{uscc}{sequence:03d}{suffix}"


def permit_number(uscc: str, sequence: int) -> str:
    return document_number(uscc, sequence, PERMIT_SUFFIX)


def registration_number(uscc: str, sequence: int) -> str:
    return document_number(uscc, sequence, REGISTRATION_SUFFIX)


#: A discharge permit's statutory term (排污许可证有效期为五年).
STATUTORY_TERM_YEARS = 5


def longest_valid_to(valid_from: dt.date, years: int = STATUTORY_TERM_YEARS) -> dt.date:
    """The latest `valid_to` a certificate's term may give: five years after
    `valid_from`. A term ends the day before the anniversary, but certificates
    written to the anniversary itself ("2021-03-01 至 2026-03-01") are common
    and are not refused for that one day."""
    return add_years(valid_from, years)


def term(start: dt.date, years: int) -> tuple[dt.date, dt.date]:
    return start, validity_end(start, years)


def renewal_term(
    today: dt.date, valid_to: dt.date, years: int, window_days: int
) -> tuple[dt.date, dt.date]:
    """The next term of a renewal (延续): it follows on from the current one.
    Renewing is possible only in the last `window_days` of the term, so terms
    cannot be stacked years ahead."""
    if (valid_to - today).days > window_days:
        opens = valid_to - dt.timedelta(days=window_days)
        raise ValueError(
            msg(
                f"renewal opens on {opens.isoformat()} ({window_days} days before expiry)",
                f"延续申请自 {opens.isoformat()} 起可办理（到期前 {window_days} 天）",
            )
        )
    return term(max(valid_to + dt.timedelta(days=1), today), years)


def renewal_due(valid_to: dt.date, lead_days: int = 60) -> dt.date:
    """The last day to apply for renewal: `lead_days` before the permit expires."""
    return valid_to - dt.timedelta(days=lead_days)


@dataclass(frozen=True)
class AmountChange:
    pollutant: str
    before_kg: int
    after_kg: int

    @property
    def delta_kg(self) -> int:
        return self.after_kg - self.before_kg


def amount_changes(before: dict[str, int], after: dict[str, int]) -> list[AmountChange]:
    """Per-pollutant changes between two sets of permitted amounts (kg/a);
    a pollutant dropped from the permit goes to 0."""
    names = sorted(set(before) | set(after), key=lambda p: (p != VOCS, p))
    return [
        AmountChange(p, before.get(p, 0), after.get(p, 0))
        for p in names
        if before.get(p, 0) != after.get(p, 0)
    ]


def quota_missing_kg(increase_kg: int, allocated_kg: int, drawn_kg: int) -> int:
    """Total-quantity control (总量控制): how much of a VOCs increase is not
    backed by quota allocated to the enterprise and not yet drawn (0: backed)."""
    if increase_kg <= 0:
        return 0
    return max(0, increase_kg - max(0, allocated_kg - drawn_kg))


def application_kind(changes_permit_id: str | None) -> ApplicationKind:
    return "new" if changes_permit_id is None else "change"


def merged_amounts(current: dict[str, int], increments: dict[str, int]) -> dict[str, int]:
    """A permit's amounts once a change application is merged into it (核准变更):
    its current amounts plus the application's increments, pollutant by pollutant."""
    merged = dict(current)
    for pollutant, kg in increments.items():
        merged[pollutant] = merged.get(pollutant, 0) + kg
    return merged


def merge_refusal(permit_no: str, status: str) -> str | None:
    """Why a change application cannot be merged into permit `permit_no`
    (in `status`) now, or None: it must be in force and changeable."""
    if status not in IN_FORCE:
        label = LABELS_ZH.get(status, status)
        return msg(
            f"permit {permit_no}, which this application changes, is no longer in force "
            f"({status}): the change cannot be approved; refuse the application",
            f"本申请变更的许可证 {permit_no} 已不在有效状态（{label}），不能核准变更：请不予许可",
        )
    if "change" not in TRANSITIONS.get(status, {}):
        label = LABELS_ZH.get(status, status)
        return msg(
            f"permit {permit_no}, which this application changes, is {status}: it cannot be "
            "changed until it is reinstated",
            f"本申请变更的许可证 {permit_no} {label}，恢复前不能变更",
        )
    return None
