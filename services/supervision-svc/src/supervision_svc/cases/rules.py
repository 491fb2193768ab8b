"""Pure rules of enforcement cases: the lifecycle and the four-eyes principle."""

from __future__ import annotations

from svc_common.errors import Forbidden, IllegalTransition
from svc_common.i18n import msg

TRANSITIONS: dict[str, dict[str, str]] = {
    "proposed": {"approve": "decided", "reject": "rejected"},
    "decided": {"close": "closed"},
    "rejected": {},
    "closed": {},
}


def allowed_actions(status: str) -> list[str]:
    return list(TRANSITIONS.get(status, {}))


def next_status(status: str, action: str) -> str:
    after = TRANSITIONS.get(status, {}).get(action)
    if after is None:
        raise IllegalTransition(msg("case", "立案案件"), status, action, allowed_actions(status))
    return after


def check_four_eyes(proposed_by: str, decider: str) -> None:
    """The officer who decides a case is not the one who proposed it (四眼原则)."""
    if proposed_by == decider:
        raise Forbidden(
            msg(
                "four eyes: a case is decided by another officer than the one who proposed it",
                "双人审核：立案的决定须由提出人以外的人员作出",
            ),
            proposed_by=proposed_by,
        )
