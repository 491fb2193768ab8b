"""Pure rules of quality audits (许可质量审核) and rectification (整改)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from svc_common.errors import IllegalTransition
from svc_common.i18n import msg

AuditResult = Literal["pass", "findings"]
FindingStatus = Literal["open", "rectified"]
#: Permit statuses in which a permit can be audited: it is on the register in force.
AUDITABLE = ("issued", "suspended")

FINDING_TRANSITIONS: dict[str, dict[str, str]] = {"open": {"rectify": "rectified"}, "rectified": {}}
#: A finding's states and action in Chinese, for a refused step's message.
FINDING_LABELS_ZH = {"open": "待整改", "rectified": "已整改", "rectify": "整改"}


def check_result(result: str, findings: int) -> str | None:
    """Why a result and its number of findings do not fit together, or None."""
    if result == "pass" and findings:
        return msg(
            "a passed audit has no findings; use result 'findings'",
            "审核通过（result 'pass'）时不得列出问题；发现问题请用 result 'findings'",
        )
    if result == "findings" and not findings:
        return msg(
            "result 'findings' needs at least one finding",
            "发现问题（result 'findings'）时至少列出一个问题",
        )
    return None


def next_finding_status(status: str, action: str) -> str:
    after = FINDING_TRANSITIONS.get(status, {}).get(action)
    if after is None:
        allowed = list(FINDING_TRANSITIONS.get(status, {}))
        raise IllegalTransition(msg("finding", "问题"), status, action, allowed, FINDING_LABELS_ZH)
    return after


def is_overdue(status: str, deadline: dt.date, today: dt.date) -> bool:
    """Open past its rectification deadline (the deadline day itself is in time)."""
    return status == "open" and deadline < today
