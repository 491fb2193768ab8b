"""Pure rules of parked filings: why an approved filing cannot be drafted
now, and whether a parked one can be drafted."""

from __future__ import annotations

from typing import Literal

from svc_common.i18n import msg

ParkedState = Literal["waiting", "drafted"]
WAITING: ParkedState = "waiting"
DRAFTED: ParkedState = "drafted"

ParkReason = Literal["industry_unclassified"]
#: The enterprise is new to permit-svc and its industry code is not in the
#: classification table: it has no management category, so neither the
#: enterprise nor its application can be made (nor a category guessed).
INDUSTRY_UNCLASSIFIED: ParkReason = "industry_unclassified"


def park_reason(enterprise_known: bool, category: str | None) -> ParkReason | None:
    """Why an approved filing cannot be drafted now, or None when it can.
    An enterprise permit-svc knows has its category; a new one takes it
    from the classification table by its industry code."""
    if enterprise_known or category is not None:
        return None
    return INDUSTRY_UNCLASSIFIED


def reason_text(reason: str, industry_code: str) -> str:
    """The reason in words, for the list and the log."""
    if reason == INDUSTRY_UNCLASSIFIED:
        return msg(
            f"industry {industry_code} is not in the classification table: the enterprise "
            "has no management category; add the code to the table (an administrator's "
            "upload), and the application is drafted",
            f"行业代码 {industry_code} 不在分类管理名录中，无法确定企业的管理类别；"
            "管理员在名录中补充该代码后即起草许可申请",
        )
    return reason


def redrive_refusal(state: str, reason: str | None, industry_code: str) -> str | None:
    """Why a parked filing cannot be drafted on request, or None. `reason`
    is why it still cannot be drafted now (`park_reason`)."""
    if state == DRAFTED:
        return msg("the filing's application is already drafted", "该环评批复的许可申请已起草")
    if reason is not None:
        return reason_text(reason, industry_code)
    return None
