"""Pure advance-use rules (先用后补): who may advance how much, and when a
debt is overdue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

#: The longest term an advance may run (days), as the API takes it.
MAX_TERM_DAYS = 3650


class DebtStatus(StrEnum):
    OPEN = "open"  # 未偿
    REPAID = "repaid"  # 已偿
    #: Closed by its reservation's release: the unused credit went with the hold.
    WITHDRAWN = "withdrawn"  # 已撤销


class AdvanceRefused(Exception):
    """An advance beyond what is available may not be made; `reason` names why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def check_advance(
    *,
    is_district_pool: bool,
    shortfall_kg: int,
    outstanding_kg: int,
    limit_kg: int,
    overdue_kg: int,
) -> None:
    """Raise AdvanceRefused unless an advance of `shortfall_kg` fits the
    district's advance limit and no debt of the district is overdue."""
    if not is_district_pool:
        raise AdvanceRefused(
            "not_district_pool",
            msg(
                "only a district pool may advance quota (not a park sub-pool or the reserve)",
                "只有区总量池可以先用后补（园区子池和政府储备不可）",
            ),
        )
    if overdue_kg > 0:
        raise AdvanceRefused(
            "overdue_debt",
            msg(
                f"the district has {kg_to_tonnes(overdue_kg)} t of overdue debt: "
                "no further advance until it is repaid",
                f"本区有逾期未偿欠量 {kg_to_tonnes(overdue_kg)} 吨，偿还前不得再先用后补",
            ),
        )
    if outstanding_kg + shortfall_kg > limit_kg:
        raise AdvanceRefused(
            "over_advance_limit",
            msg(
                f"an advance of {kg_to_tonnes(shortfall_kg)} t would bring the district's debt "
                f"to {kg_to_tonnes(outstanding_kg + shortfall_kg)} t, over its advance limit "
                f"of {kg_to_tonnes(limit_kg)} t",
                f"先用后补 {kg_to_tonnes(shortfall_kg)} 吨将使本区欠量达到 "
                f"{kg_to_tonnes(outstanding_kg + shortfall_kg)} 吨，超过额度 "
                f"{kg_to_tonnes(limit_kg)} 吨",
            ),
        )


def outstanding(amount_kg: int, repaid_kg: int, withdrawn_kg: int) -> int:
    """What a debt still owes: neither repaid nor withdrawn."""
    return amount_kg - repaid_kg - withdrawn_kg


def withdrawable(outstanding_kg: int, returned_to_lot_kg: int) -> int:
    """How much of an advance a released hold withdraws: what the release
    gave back to the advance lot, at most what the debt still owes (a part
    already repaid was offset by a real credit and stays)."""
    return max(0, min(outstanding_kg, returned_to_lot_kg))


def due_at(now: dt.datetime, term_days: int) -> dt.datetime:
    return now + dt.timedelta(days=term_days)


def is_overdue(due: dt.datetime, outstanding_kg: int, now: dt.datetime) -> bool:
    return outstanding_kg > 0 and due < now


def owed(debts: Iterable[tuple[int, dt.datetime]], now: dt.datetime) -> tuple[int, int]:
    """(outstanding, overdue) kg of a pool's open debts, each (kg left, due)."""
    total = overdue = 0
    for left, due in debts:
        total += left
        overdue += left if is_overdue(due, left, now) else 0
    return total, overdue
