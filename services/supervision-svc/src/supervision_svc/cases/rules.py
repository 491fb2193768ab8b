"""Pure rules of enforcement cases: the lifecycle, the four-eyes principle and
the deadline of a rectification order (责令整改期限)."""

from __future__ import annotations

import datetime as dt

from svc_common.auth import refuse_same_person
from svc_common.errors import Conflict, IllegalTransition
from svc_common.i18n import msg

TRANSITIONS: dict[str, dict[str, str]] = {
    "proposed": {"approve": "decided", "reject": "rejected"},
    "decided": {"close": "closed"},
    "rejected": {},
    "closed": {},
}

#: States and actions in Chinese, for a refused step's message.
LABELS_ZH = {
    "proposed": "待决定",
    "decided": "已决定",
    "rejected": "已驳回",
    "closed": "已结案",
    "approve": "批准",
    "reject": "驳回",
    "close": "结案",
}


def allowed_actions(status: str) -> list[str]:
    return list(TRANSITIONS.get(status, {}))


def next_status(status: str, action: str) -> str:
    after = TRANSITIONS.get(status, {}).get(action)
    if after is None:
        raise IllegalTransition(
            msg("case", "立案案件"), status, action, allowed_actions(status), LABELS_ZH
        )
    return after


def check_four_eyes(proposed_by: str, decider: str) -> None:
    """The officer who decides a case is not the one who proposed it (四眼原则)."""
    refuse_same_person(
        proposed_by,
        decider,
        en="four eyes: a case is decided by another officer than the one who proposed it",
        zh="双人审核：立案的决定须由提出人以外的人员作出",
        reason="proposer_decides",
        proposed_by=proposed_by,
    )


def check_deadline_ahead(rectify_by: dt.date | None, today: dt.date) -> None:
    """A rectification order is decided before its deadline passes: decided
    after it, the order could never be met. The case is rejected instead and
    proposed again with a deadline that can (`today` in Beijing)."""
    if rectify_by is not None and rectify_by < today:
        raise Conflict(
            msg(
                f"the rectification deadline {rectify_by} has passed (today is {today}, "
                "Beijing time): reject the case and propose it again with a new rectify_by",
                f"整改期限 {rectify_by} 已过（今天为北京时间 {today}）：请驳回该案件，"
                "并以新的整改期限重新提出",
            ),
            reason="rectify_by_passed",
            rectify_by=rectify_by.isoformat(),
        )
