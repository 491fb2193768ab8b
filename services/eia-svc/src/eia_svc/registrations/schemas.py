"""API shapes of registration-form filings."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from svc_common.districts import DISTRICT_SCHEMA
from svc_common.industries import IndustryCode
from svc_common.types import IncrementTonnes, NameText, Tonnes, VisibleText
from svc_common.uscc import USCC_SCHEMA

#: A USCC and a district as a filing gives them: checked by the screening
#: (which names every problem of a filing at once) and documented as the
#: shared types, which is what the screening accepts.
ScreenedUSCC = Annotated[str, Field(min_length=1, max_length=40), WithJsonSchema(USCC_SCHEMA)]
ScreenedDistrict = Annotated[
    str, Field(min_length=1, max_length=20), WithJsonSchema(DISTRICT_SCHEMA)
]


class RegistrationIn(BaseModel):
    """A registration-form project (登记表) as the enterprise files it."""

    # An unknown field or column is refused, not dropped: `vocs_increment`
    # for `vocs_increment_t` would file an increment of 0.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    #: The filer's own key for this row; a replay with the same key returns the
    #: original filing instead of filing twice.
    row_key: str | None = Field(None, min_length=1, max_length=100)
    project_name: Annotated[str, NameText(200)]
    uscc: ScreenedUSCC
    enterprise_name: Annotated[str, NameText(200)]
    district: ScreenedDistrict
    project_type: str = Field(min_length=1, max_length=40)
    industry_code: IndustryCode | None = None
    vocs_increment_t: IncrementTonnes = Decimal(0)
    control_unit: str | None = Field(None, min_length=1, max_length=40)
    park_id: str | None = Field(None, min_length=1, max_length=40)

    @field_validator("uscc")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class Receipt(BaseModel):
    """The receipt (备案回执): the document's facts, status in Chinese, and how
    to verify it (check code and verification URL)."""

    title: str
    filing_no: str
    filing_id: str
    authority: str
    status: str
    status_text: str
    review_status: str | None
    review_text: str | None
    project_name: str
    enterprise_name: str
    uscc: str
    district: str
    district_name: str
    project_type: str
    project_type_name: str | None
    industry_code: str
    vocs_increment_t: str
    control_unit: str | None
    control_unit_name: str | None = None
    park_id: str | None
    park_name: str | None = None
    filed_at: str
    filed_at_local: str
    revoked_at: str | None
    revoked_at_local: str | None
    revoke_reason: str | None
    legal_basis: list[str]
    notice: str
    check_code: str | None
    verify_url: str | None


class ReceiptVerification(BaseModel):
    """What anyone holding a filing number and its check code learns (公开核验)."""

    authentic: bool
    filing_no: str
    status: str
    status_text: str
    authority: str
    project_name: str
    enterprise_name: str
    district_name: str
    filed_at_local: str
    revoked_at_local: str | None
    revoke_reason: str | None
    receipt_url: str
    receipt_pdf_url: str


class RegistrationFiled(BaseModel):
    filing_id: str
    filing_no: str
    replayed: bool = False
    receipt: Receipt
    receipt_url: str
    receipt_pdf_url: str
    #: With the filing number, lets anyone verify the receipt (校验码).
    check_code: str
    verify_url: str


class RegistrationOut(BaseModel):
    id: str
    filing_no: str
    filer: str
    row_key: str | None
    project_name: str
    uscc: str
    enterprise_name: str
    district: str
    project_type: str
    industry_code: str
    vocs_increment_t: Tonnes
    control_unit: str | None
    park_id: str | None
    status: str
    review_status: str | None
    filed_at: str
    revoked_at: str | None
    revoke_reason: str | None
    receipt_url: str
    receipt_pdf_url: str
    check_code: str
    verify_url: str


class RevokeIn(BaseModel):
    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: Annotated[str, VisibleText(2000)]
