"""API shapes of the demands list."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from svc_common.districts import DistrictCode
from svc_common.errors import FieldValueError
from svc_common.i18n import msg
from svc_common.types import RecordDay, VisibleText, given, null_refused, schema_extra, when

from supervision_svc.validation import PersonName

Source = Literal["visit", "inspection", "complaint", "other"]


class DemandIn(BaseModel):
    """A new item of the list (POST /supervision/demands): open, with a
    deadline not before today; it is completed by …/done. An item from a
    complaint names the complaint (source_ref, its case number), one of the
    item's district."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra={"allOf": [when("source", "complaint", given("source_ref"))]},
    )

    district: DistrictCode
    title: Annotated[str, VisibleText(200)]
    detail: Annotated[str, VisibleText(2000, min_length=0)] = ""
    source: Source
    source_ref: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description=(
            "complaint case no. etc.; required when the source is a complaint, and then"
            " a complaint received or imported here, of the item's district"
        ),
    )
    owner: PersonName = Field(description="责任人")
    deadline: RecordDay
    progress_percent: int = Field(0, ge=0, le=100)
    progress_note: Annotated[str, VisibleText(2000, min_length=0)] | None = None

    @model_validator(mode="after")
    def _reference(self) -> DemandIn:
        if self.source == "complaint" and self.source_ref is None:
            raise FieldValueError(
                "source_ref",
                msg(
                    "an item from a complaint names it: source_ref (its case number)",
                    "来源为投诉的事项须给出投诉编号 source_ref",
                ),
            )
        return self


class DemandRow(DemandIn):
    """A row of the import (POST /supervision/demands:import), which takes
    the list as it stands: an item may already be done (`status`), and its
    deadline may have passed. Only the import takes `status`."""

    status: Literal["open", "done"] = "open"


class ProgressIn(BaseModel):
    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        # An item always has a progress, an owner and a deadline: each may
        # be left out of a change, not cleared.
        json_schema_extra=schema_extra(
            not_null=("progress_percent", "owner", "deadline"),
            at_least_one=("progress_percent", "progress_note", "owner", "deadline"),
        ),
    )

    progress_percent: int | None = Field(None, ge=0, le=100)
    progress_note: Annotated[str, VisibleText(2000, min_length=0)] | None = None
    owner: PersonName | None = None
    deadline: RecordDay | None = None

    _not_null = field_validator("progress_percent", "owner", "deadline")(null_refused)


class DemandOut(BaseModel):
    id: str
    district: str
    title: str
    detail: str
    source: str
    source_ref: str | None
    owner: str
    deadline: dt.date
    progress_percent: int
    progress_note: str | None
    status: str
    overdue: bool
    done_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DemandReport(BaseModel):
    """汇集 / 已完成 / 稳步推进中 (total / done / in progress), and overdue."""

    district: str | None
    total: int
    done: int
    in_progress: int
    overdue: int
