"""API shapes of complaints (信访投诉)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from svc_common.actions import ActionBody
from svc_common.districts import DistrictCode
from svc_common.errors import FieldValueError
from svc_common.guard import SPACES
from svc_common.i18n import msg
from svc_common.types import DecimalText, RecordTime, VisibleText

from supervision_svc.validation import USCC, PersonName, Reason

Channel = Literal["hotline", "wechat", "web", "letter", "visit"]
Category = Literal["air", "odor", "noise", "water", "waste", "soil", "radiation", "other"]
Outcome = Literal["substantiated", "not_substantiated", "referred"]
Status = Literal["received", "accepted", "assigned", "replied", "closed", "rejected"]
Action = Literal["accept", "reject", "assign", "reply", "close", "reopen"]

#: A phone number: 5–25 digits, spaces and dashes, beginning and ending with
#: a digit, after an optional "+". The models strip the spaces around a text
#: before they check it, so the pattern allows them: the document then
#: accepts exactly what the API does (a number ending in a space, once
#: stripped, may be too short). Spaces: those the front door lets through
#: (guard.SPACES; `\s` would also admit a vertical tab it refuses).
PHONE = re.compile(rf"^[{SPACES}]*\+?[0-9][0-9 -]{{3,23}}[0-9][{SPACES}]*$")


def _phone(v: str) -> str:
    if not PHONE.match(v):
        raise ValueError(msg("is not a phone number", "不是电话号码"))
    return v


Phone = Annotated[
    str,
    AfterValidator(_phone),
    WithJsonSchema({"type": "string", "pattern": PHONE.pattern, "examples": ["022-2345 6789"]}),
]
#: Tianjin and its surroundings, with room to spare: a point far outside is a typo.
LAT_RANGE = (Decimal("36"), Decimal("42"))
#: Coordinates as decimal strings within the Tianjin area, ≤ 6 decimals.
Latitude = Annotated[
    Decimal,
    DecimalText(
        r"^((3[6-9]|4[01])(\.[0-9]{1,6})?|42(\.0{1,6})?)$",
        example="39.1",
        description="WGS-84 latitude, 36 to 42, ≤ 6 decimals",
        description_zh="WGS-84 纬度，36 至 42，最多 6 位小数",
    ),
]
Longitude = Annotated[
    Decimal,
    DecimalText(
        r"^((11[4-9]|120)(\.[0-9]{1,6})?|121(\.0{1,6})?)$",
        example="117.2",
        description="WGS-84 longitude, 114 to 121, ≤ 6 decimals",
        description_zh="WGS-84 经度，114 至 121，最多 6 位小数",
    ),
]
LNG_RANGE = (Decimal("114"), Decimal("121"))


#: A complainant's name as given (may be empty: anonymous).
ComplainantName = Annotated[str, VisibleText(50, min_length=0, name=True)]


class ContactIn(BaseModel):
    """The complainant's personal data (may be anonymous)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    #: Left out, empty or a name a reader can see (no invisible character).
    name: ComplainantName | None = None
    phone: Phone | None = None
    wants_reply: bool = True


class ContactOut(BaseModel):
    name: str | None
    phone: str | None
    wants_reply: bool


def _coordinate(v: Decimal | None, bounds: tuple[Decimal, Decimal], what: str) -> Decimal | None:
    if v is None:
        return None
    if not v.is_finite() or not bounds[0] <= v <= bounds[1]:
        raise ValueError(
            msg(
                f"{what} must be between {bounds[0]} and {bounds[1]} (the Tianjin area)",
                f"{what}应在 {bounds[0]} 与 {bounds[1]} 之间（天津范围）",
            )
        )
    if v != v.quantize(Decimal("0.000001")):
        raise ValueError(msg("at most 6 decimals", "最多 6 位小数"))
    return v


def _with(field: str, other: str) -> dict[str, Any]:
    """JSON Schema: when `field` is given (not null), so is `other`."""
    given = {"required": [field], "properties": {field: {"type": "string"}}}
    return {"if": given, "then": {"required": [other], "properties": {other: {"type": "string"}}}}


class ComplaintIn(BaseModel):
    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra={"allOf": [_with("lat", "lng"), _with("lng", "lat")]},
    )

    channel: Channel
    received_at: RecordTime
    district: DistrictCode
    address: Annotated[str, VisibleText(300)]
    lng: Longitude | None = Field(None, description="WGS-84 longitude, ≤ 6 decimals")
    lat: Latitude | None = Field(None, description="WGS-84 latitude, ≤ 6 decimals")
    category: Category
    description: Annotated[str, VisibleText(2000, min_length=2)]
    uscc: USCC | None = Field(None, description="the enterprise complained about, if known")
    complainant: ContactIn = Field(default_factory=ContactIn)

    @field_validator("lat")
    @classmethod
    def _lat(cls, v: Decimal | None) -> Decimal | None:
        return _coordinate(v, LAT_RANGE, "lat")

    @field_validator("lng")
    @classmethod
    def _lng(cls, v: Decimal | None) -> Decimal | None:
        return _coordinate(v, LNG_RANGE, "lng")

    @model_validator(mode="after")
    def _both_coordinates(self) -> ComplaintIn:
        if (self.lat is None) != (self.lng is None):
            raise FieldValueError(
                "lng" if self.lng is None else "lat",
                msg("give both lat and lng or neither", "lat 与 lng 须同时给出或都不给"),
            )
        return self


class ComplaintAcceptIn(ActionBody):
    """accept takes nothing: no body, or an empty object."""

    action: ClassVar[Action] = "accept"


class ComplaintRejectIn(ActionBody):
    """reject (不予受理): why the complaint is not accepted."""

    action: ClassVar[Action] = "reject"
    reason: Reason


class ComplaintAssignIn(ActionBody):
    """assign (交办): the officer who handles the complaint."""

    action: ClassVar[Action] = "assign"
    officer: PersonName


class ComplaintReplyIn(ActionBody):
    """reply (答复): the reply to the complainant."""

    action: ClassVar[Action] = "reply"
    reply: Annotated[str, VisibleText(2000)]


class ComplaintCloseIn(ActionBody):
    """close (办结): the outcome, and a note if any."""

    action: ClassVar[Action] = "close"
    outcome: Outcome
    note: Annotated[str, VisibleText(2000, min_length=0)] | None = None


class ComplaintReopenIn(ActionBody):
    """reopen (重新办理): why the closed complaint is handled again."""

    action: ClassVar[Action] = "reopen"
    reason: Reason


#: The body of any complaint action; its class names the action.
ActionIn = (
    ComplaintAcceptIn
    | ComplaintRejectIn
    | ComplaintAssignIn
    | ComplaintReplyIn
    | ComplaintCloseIn
    | ComplaintReopenIn
)


class ComplaintOut(BaseModel):
    id: str
    case_no: str
    channel: str
    received_at: dt.datetime
    district: str
    address: str
    lng: Decimal | None
    lat: Decimal | None
    category: str
    description: str
    uscc: str | None
    status: str
    allowed_actions: list[str]
    first_responsible: str | None
    assigned_to: str | None
    accept_due: dt.datetime
    accepted_at: dt.datetime | None
    close_due: dt.datetime | None
    overdue: bool
    rejected_reason: str | None
    reply: str | None
    replied_at: dt.datetime | None
    closed_at: dt.datetime | None
    outcome: str | None
    outcome_note: str | None
    reopen_count: int
    cluster_id: str
    repeat: bool
    #: Present only for an officer of the handling district.
    complainant: ContactOut | None = None


class MatchOut(BaseModel):
    complaint_id: str
    case_no: str
    received_at: dt.datetime
    reason: Literal["same_enterprise", "same_place_similar_text", "very_similar_text"]
    text_similarity: float
    distance_m: int | None


class DuplicateCheck(BaseModel):
    """The earlier open complaints about the same problem, and the cluster."""

    repeat: bool
    cluster_id: str
    cluster_size: int
    matches: list[MatchOut]


class ComplaintReceipt(BaseModel):
    complaint: ComplaintOut
    duplicate_check: DuplicateCheck


class ClusterOut(BaseModel):
    id: str
    district: str
    category: str
    uscc: str | None
    reports: int
    complainants: int
    open_reports: int
    first_received_at: dt.datetime
    last_received_at: dt.datetime
    attention: float
    summary: str


class CategoryFigures(BaseModel):
    category: str
    received: int
    accepted: int
    closed: int
    repeated: int


class ComplaintReport(BaseModel):
    """受理 / 办结 / 办结率 for a period (Asia/Shanghai dates, inclusive)."""

    district: str | None
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    received: int
    rejected: int
    accepted: int
    closed: int
    closure_rate_percent: Decimal | None
    overdue: int
    repeated: int
    by_category: list[CategoryFigures]


class ImportedComplaint(BaseModel):
    """A row of a bulk import of complaints from the 12369 platform: its
    history up to now (status and the times it reached it)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    channel: Channel
    received_at: RecordTime
    district: DistrictCode
    address: Annotated[str, VisibleText(300)]
    category: Category
    description: Annotated[str, VisibleText(2000, min_length=2)]
    uscc: USCC | None = None
    status: Literal["received", "accepted", "closed", "rejected"] = "received"
    accepted_at: RecordTime | None = None
    closed_at: RecordTime | None = None
    outcome: Outcome | None = None
    rejected_reason: Reason | None = None
    complainant_name: ComplainantName | None = None
    complainant_phone: Phone | None = None

    @model_validator(mode="after")
    def _history(self) -> ImportedComplaint:
        if self.accepted_at is not None and self.status not in ("accepted", "closed"):
            raise FieldValueError(
                "accepted_at",
                msg(
                    "accepted_at belongs to accepted or closed complaints",
                    "仅已受理或已办结可给 accepted_at",
                ),
            )
        if self.rejected_reason is not None and self.status != "rejected":
            raise FieldValueError(
                "rejected_reason",
                msg(
                    "rejected_reason belongs to rejected complaints",
                    "仅不予受理可给 rejected_reason",
                ),
            )
        if self.status in ("accepted", "closed") and self.accepted_at is None:
            raise FieldValueError(
                "accepted_at", msg("accepted_at is required", "须给出 accepted_at")
            )
        if self.accepted_at and self.accepted_at < self.received_at:
            raise FieldValueError(
                "accepted_at",
                msg("accepted_at is before received_at", "accepted_at 早于 received_at"),
            )
        if self.status == "closed":
            if self.closed_at is None or self.outcome is None:
                raise FieldValueError(
                    "closed_at" if self.closed_at is None else "outcome",
                    msg(
                        "a closed complaint needs closed_at and outcome",
                        "已办结须给出 closed_at 与 outcome",
                    ),
                )
            if self.accepted_at and self.closed_at < self.accepted_at:
                raise FieldValueError(
                    "closed_at",
                    msg("closed_at is before accepted_at", "closed_at 早于 accepted_at"),
                )
        elif self.closed_at is not None or self.outcome is not None:
            raise FieldValueError(
                "closed_at" if self.closed_at is not None else "outcome",
                msg(
                    "closed_at and outcome belong to closed complaints",
                    "仅已办结可给 closed_at 与 outcome",
                ),
            )
        if self.status == "rejected" and not self.rejected_reason:
            raise FieldValueError(
                "rejected_reason",
                msg("a rejected complaint needs rejected_reason", "不予受理须给出理由"),
            )
        return self
