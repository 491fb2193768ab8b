"""API shapes of report / report-form filings."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from svc_common.actions import ActionBody
from svc_common.industries import IndustryCode
from svc_common.types import IncrementTonnes, NameText, Tonnes, VisibleText

from eia_svc.registrations.schemas import ScreenedDistrict, ScreenedUSCC

MajorKind = Literal["infrastructure", "livelihood", "industrial_layout"]


class FilingIn(BaseModel):
    # An unknown field is refused, not dropped: `vocs_increment` for
    # `vocs_increment_t` would file an increment of 0 that asks no quota.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    project_name: Annotated[str, NameText(200)]
    uscc: ScreenedUSCC
    enterprise_name: Annotated[str, NameText(200)]
    district: ScreenedDistrict
    project_type: str = Field(min_length=1, max_length=40)
    industry_code: IndustryCode | None = None
    category: Literal["report", "report_form"]
    vocs_increment_t: IncrementTonnes = Decimal(0)
    #: The applicant claims a major infrastructure, livelihood or
    #: industrial-layout project and so asks for the green channel (绿色通道);
    #: the officer who accepts the filing confirms or declines the claim.
    major_project: bool = False
    major_kind: MajorKind | None = None
    park_id: str | None = Field(None, min_length=1, max_length=40)
    control_unit: str | None = Field(None, min_length=1, max_length=40)

    @field_validator("uscc")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


#: A filing's review actions: each is a route of its own
#: (`POST /eia/filings/{id}/<action>`) with the body below.
Action = Literal[
    "accept", "evaluation-done", "review-done", "approve", "reject", "withdraw", "quota-retry"
]


class FilingAcceptIn(ActionBody):
    """accept (受理): for a filing that claims to be a major project,
    `green_channel`, the officer's decision on the claim (true: confirmed,
    green channel; false: the normal procedure), required; for any other
    filing nothing (no body, or an empty object)."""

    action: ClassVar[Action] = "accept"
    green_channel: bool | None = None


class FilingEvaluationDoneIn(ActionBody):
    """evaluation-done (技术评估完成) takes nothing: no body, or an empty object."""

    action: ClassVar[Action] = "evaluation-done"


class FilingReviewDoneIn(ActionBody):
    """review-done (审查完成) takes nothing: no body, or an empty object."""

    action: ClassVar[Action] = "review-done"


class FilingApproveIn(ActionBody):
    """approve (批准): a note on the decision, if any."""

    action: ClassVar[Action] = "approve"
    reason: Annotated[str, VisibleText(2000, min_length=0)] | None = None


class FilingRejectIn(ActionBody):
    """reject (不予批准): the reason, required — a refusal states its
    grounds (行政许可法 §38), so the applicant is told why."""

    action: ClassVar[Action] = "reject"
    reason: Annotated[str, VisibleText(2000)]


class FilingWithdrawIn(ActionBody):
    """withdraw (撤回): why, if said."""

    action: ClassVar[Action] = "withdraw"
    reason: Annotated[str, VisibleText(2000, min_length=0)] | None = None


class FilingQuotaRetryIn(ActionBody):
    """quota-retry (重新申请总量) takes nothing: no body, or an empty object."""

    action: ClassVar[Action] = "quota-retry"


#: The body of any review action; its class names the action.
ActionIn = (
    FilingAcceptIn
    | FilingEvaluationDoneIn
    | FilingReviewDoneIn
    | FilingApproveIn
    | FilingRejectIn
    | FilingWithdrawIn
    | FilingQuotaRetryIn
)
#: The actions whose body carries a `reason` (the decision's note).
DECISIONS = (FilingApproveIn, FilingRejectIn, FilingWithdrawIn)


#: Where a filing's quota stands (see quota_saga.rules).
QuotaStatus = Literal[
    "not_requested",
    "not_required",
    "pending",
    "secured",
    "blocked",
    "lapsed",
    "allocated",
    "released",
    "lapsed_short",
]


class FilingOut(BaseModel):
    id: str
    project_ref: str
    project_name: str
    uscc: str
    enterprise_name: str
    district: str
    project_type: str
    industry_code: str
    category: str
    channel: str
    major_project: bool
    major_kind: str | None
    #: The applicant's request for the green channel: `requested` until an
    #: officer accepts the filing, then `confirmed` or `declined`; null when
    #: it claims no major project (or is bundled).
    green_channel: Literal["requested", "confirmed", "declined"] | None = None
    park_id: str | None
    control_unit: str | None
    vocs_increment_t: Tonnes
    status: str
    evaluation_done: bool
    review_done: bool
    allowed_actions: list[str]
    submitted_by: str
    created_at: str
    accepted_at: str | None
    due_at: str | None
    #: The statutory clock's last day (Asia/Shanghai date): the decision is
    #: due by its end; `due_at` is the first instant after it.
    due_on: str | None = None
    overdue: bool
    decided_at: str | None
    decision_note: str | None
    quota_status: str
    quota_attempt: int
    reservation_id: str | None
    quota_shortfall_t: Tonnes | None
    quota_allocated_t: Tonnes | None
    quota_asked_at: str | None = None
    #: When quota-svc was first asked for the current request, kept across
    #: the re-asks (the stuck list's `older_than` counts from it).
    quota_first_asked_at: str | None = None
    quota_asks: int = 0
    #: What is happening to the quota and what to do, where it needs
    #: attention (blocked, lapsed, pending, lapsed_short), in the request's
    #: language (Accept-Language: zh-CN first, English on request).
    quota_note: str | None = None
