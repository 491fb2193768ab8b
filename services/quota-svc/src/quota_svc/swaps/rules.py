"""Pure swap rules (跨区调剂): the life cycle, who approves which side, who
may cancel."""

from __future__ import annotations

from enum import StrEnum

from svc_common.auth import refuse_same_person
from svc_common.errors import Conflict, Forbidden, IllegalTransition
from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes


class SwapStatus(StrEnum):
    PROPOSED = "proposed"  # 已提出, waiting for both districts
    APPROVED = "approved"  # 双方已批准: tonnes held, waiting for the delay
    SETTLED = "settled"  # 已生效
    CANCELLED = "cancelled"  # 已撤销


#: States and actions in Chinese, for a refused step's message.
LABELS_ZH = {
    "proposed": "已提出",
    "approved": "双方已批准",
    "settled": "已生效",
    "cancelled": "已撤销",
    "approve": "批准",
    "cancel": "撤销",
}


def check_proposal(from_district: str, to_district: str) -> None:
    if from_district == to_district:
        raise Conflict(
            msg(
                "a swap moves quota between two different districts", "跨区调剂须在两个不同的区之间"
            ),
            reason="same_district",
        )


def check_source_covers(pool_id: str, amount_kg: int, available_kg: int) -> None:
    """A swap may not ask for more than the source pool has available now.
    Checked at proposal so the officer learns at once, not after two
    approvals; approval checks again (the pool may have shrunk since)."""
    if amount_kg <= available_kg:
        return
    avail = kg_to_tonnes(max(available_kg, 0))
    short = kg_to_tonnes(amount_kg - max(available_kg, 0))
    raise Conflict(
        msg(
            f"the swap asks for more than pool {pool_id} has available: "
            f"{avail} t available, short by {short} t",
            f"调剂量超过调出区总量池 {pool_id} 的可用量：可用 {avail} 吨，缺口 {short} 吨",
        ),
        reason="exceeds_available",
        field="amount_t",
        pool_id=pool_id,
        available_t=str(avail),
        shortfall_t=str(short),
    )


def approval_side(
    *,
    status: str,
    approver: str,
    proposer: str,
    from_approved_by: str | None,
    to_approved_by: str | None,
    may_act_in_from: bool,
    may_act_in_to: bool,
) -> str:
    """Which side (`from` or `to`) this approval is for; raises if none."""
    if status != SwapStatus.PROPOSED:
        raise IllegalTransition(
            msg("swap", "调剂"),
            status,
            "approve",
            ["cancel"] if status == "approved" else [],
            LABELS_ZH,
        )
    refuse_same_person(
        approver,
        proposer,
        en="four eyes: the proposer of a swap may not approve it",
        zh="四眼原则：调剂的提出人不得批准",
        reason="proposer_approves",
    )
    for approved_by in (from_approved_by, to_approved_by):
        refuse_same_person(
            approver,
            approved_by,
            en="each district's approval must come from a different officer",
            zh="两区的批准须由不同的审批人员作出",
            reason="same_approver",
        )
    if may_act_in_from and from_approved_by is None:
        return "from"
    if may_act_in_to and to_approved_by is None:
        return "to"
    raise Forbidden(
        msg(
            "only an officer of a district whose approval is still missing may approve",
            "只有尚未批准一方所在区的审批人员可以批准",
        )
    )


def check_cancel(status: str) -> None:
    if status not in (SwapStatus.PROPOSED, SwapStatus.APPROVED):
        raise IllegalTransition(msg("swap", "调剂"), status, "cancel", [], LABELS_ZH)
