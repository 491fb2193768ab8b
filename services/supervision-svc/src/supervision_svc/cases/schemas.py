"""API shapes of enforcement cases."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from svc_common.errors import FieldValueError
from svc_common.i18n import msg
from svc_common.types import Day, RecordDay, RecordRef, VisibleText, absent, given, when

Measure = Literal["warning", "fine", "rectification", "permit_suspension"]
#: The largest fine a district bureau imposes in one decision, with room: a bigger one is a typo.
MAX_FINE_CNY = 100_000_000


class MeasureIn(BaseModel):
    """warning (警告) | fine (罚款: fine_cny, whole yuan) | rectification
    (责令整改: rectify_by, the deadline) | permit_suspension (暂扣许可证).
    fine_cny belongs to a fine only and rectify_by to a rectification order
    only; either given with another measure is a 422 naming it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                when("kind", "fine", given("fine_cny")),
                {
                    "if": {"not": {"properties": {"kind": {"const": "fine"}}}},
                    "then": absent("fine_cny"),
                },
                when("kind", "rectification", given("rectify_by")),
                {
                    "if": {"not": {"properties": {"kind": {"const": "rectification"}}}},
                    "then": absent("rectify_by"),
                },
            ]
        },
    )

    kind: Measure
    fine_cny: int | None = Field(None, ge=1, le=MAX_FINE_CNY, description="whole yuan")
    rectify_by: RecordDay | None = None

    @model_validator(mode="after")
    def _fields(self) -> MeasureIn:
        if self.kind == "fine" and self.fine_cny is None:
            raise FieldValueError(
                "fine_cny",
                msg("a fine needs fine_cny (whole yuan)", "罚款须给出罚款金额 fine_cny（整元）"),
            )
        if self.kind != "fine" and self.fine_cny is not None:
            raise FieldValueError(
                "fine_cny",
                msg(
                    f"fine_cny is given with a fine only, not with {self.kind}",
                    "只有罚款可给出罚款金额 fine_cny",
                ),
            )
        if self.kind == "rectification" and self.rectify_by is None:
            raise FieldValueError(
                "rectify_by",
                msg("a rectification order needs rectify_by", "责令整改须给出 rectify_by"),
            )
        if self.kind != "rectification" and self.rectify_by is not None:
            # The deadline is a rectification order's (责令改正期限): a warning,
            # a fine or a suspension sets none, and a deadline stored with
            # one would be checked and shown as if it bound the enterprise.
            raise FieldValueError(
                "rectify_by",
                msg(
                    f"rectify_by is given with a rectification order only, not with {self.kind}",
                    "只有责令整改可给出整改期限 rectify_by",
                ),
            )
        return self


class CaseIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    finding_id: RecordRef = Field(min_length=1, max_length=36)
    legal_basis: Annotated[str, VisibleText(500, min_length=2)]
    facts: Annotated[str, VisibleText(2000, min_length=0)] = ""
    measure: MeasureIn


class DecisionIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    approve: bool
    note: Annotated[str, VisibleText(2000, min_length=0)] | None = None


class CloseIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    note: Annotated[str, VisibleText(2000)] = Field(description="how it was rectified")


class CaseOut(BaseModel):
    id: str
    case_no: str
    finding_id: str
    uscc: str
    district: str
    legal_basis: str
    facts: str
    measure: str
    fine_cny: int | None
    rectify_by: Day | None
    permit_id: str | None
    permit_no: str | None
    status: str
    allowed_actions: list[str]
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    closed_at: dt.datetime | None
    closing_note: str | None
