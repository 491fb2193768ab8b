"""Request and response bodies of the enterprise API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from svc_common.districts import DistrictCode
from svc_common.errors import FieldValueError
from svc_common.industries import IndustryCode
from svc_common.types import NameText, VisibleText, null_refused, schema_extra
from svc_common.uscc import USCC, validate_uscc

from permit_svc.enterprises.rules import (
    FIXED_FIELDS,
    Category,
    OperatingStatus,
    fixed_field_message,
)


class IndustryOut(BaseModel):
    """A line of the classification table (分类管理名录)."""

    industry_code: str
    name: str
    category: Category


class EnterpriseIn(BaseModel):
    """A fixed pollution source to register (or, in a bulk import, to update)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    uscc: USCC
    name: Annotated[str, NameText(200)]
    district: DistrictCode = Field(description="GB/T 2260 code of the district")
    industry_code: IndustryCode
    address: Annotated[str, VisibleText(500, min_length=0)] = ""
    operating_status: OperatingStatus = "operating"

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        return validate_uscc(v)


class EnterpriseChange(BaseModel):
    """A change to a registered enterprise; fields left out stay as they are.
    District and industry are not changed here: a move is a new registration."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        extra="forbid",
        json_schema_extra=schema_extra(
            not_null=("name", "address", "operating_status"),
            at_least_one=("name", "address", "operating_status"),
        ),
    )

    name: Annotated[str, NameText(200)] | None = None
    address: Annotated[str, VisibleText(500, min_length=0)] | None = None
    operating_status: OperatingStatus | None = None
    reason: Annotated[str, VisibleText(500)] | None = None

    _not_null = field_validator("name", "address", "operating_status")(null_refused)

    @model_validator(mode="before")
    @classmethod
    def _fixed(cls, data: Any) -> Any:
        """District and industry are refused saying why (the bulk import's
        rows say the same), not as any unknown field is."""
        if isinstance(data, dict):
            for field in FIXED_FIELDS:
                if field in data:
                    raise FieldValueError(field, fixed_field_message(field))
        return data


class EnterpriseOut(BaseModel):
    uscc: str
    name: str
    district: str
    industry_code: str
    category: Category
    address: str
    operating_status: OperatingStatus
    created_at: dt.datetime
    updated_at: dt.datetime
