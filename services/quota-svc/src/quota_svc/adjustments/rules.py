"""Pure adjustment rules: the proposal's life cycle and four eyes."""

from __future__ import annotations

from enum import StrEnum

from svc_common.auth import refuse_same_person
from svc_common.errors import IllegalTransition
from svc_common.i18n import msg


class AdjustmentStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


#: States and actions in Chinese, for a refused step's message.
LABELS_ZH = {
    "proposed": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
    "approve": "批准",
    "reject": "驳回",
}


def check_decision(status: str, action: str) -> None:
    if status != AdjustmentStatus.PROPOSED:
        raise IllegalTransition(msg("adjustment", "人工调整"), status, action, [], LABELS_ZH)


def check_four_eyes(proposed_by: str, decided_by: str) -> None:
    refuse_same_person(
        proposed_by,
        decided_by,
        en="four eyes: an adjustment must be approved or rejected by someone other "
        "than the person who proposed it",
        zh="四眼原则：人工调整须由提出人以外的管理员批准或驳回",
        reason="proposer_decides",
        proposed_by=proposed_by,
    )
