"""API shapes of registration-form filings."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from svc_common.types import IncrementTonnes, Tonnes


class RegistrationIn(BaseModel):
    """A registration-form project (登记表) as the enterprise files it."""

    model_config = ConfigDict(str_strip_whitespace=True)

    #: The filer's own key for this row; a replay with the same key returns the
    #: original filing instead of filing twice.
    row_key: str | None = Field(None, min_length=1, max_length=100)
    project_name: str = Field(min_length=1, max_length=200)
    uscc: str = Field(min_length=1, max_length=40)
    enterprise_name: str = Field(min_length=1, max_length=200)
    district: str = Field(min_length=1, max_length=20)
    project_type: str = Field(min_length=1, max_length=40)
    industry_code: str | None = Field(None, pattern=r"^[A-Z]\d{1,4}$")
    vocs_increment_t: IncrementTonnes = Decimal(0)
    control_unit: str | None = Field(None, max_length=40)
    park_id: str | None = Field(None, max_length=40)

    @field_validator("uscc")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class Receipt(BaseModel):
    filing_no: str
    filing_id: str
    status: str
    project_name: str
    enterprise_name: str
    uscc: str
    district: str
    district_name: str
    project_type: str
    project_type_name: str | None
    filed_at: str
    filed_at_local: str
    notice: str


class RegistrationFiled(BaseModel):
    filing_id: str
    filing_no: str
    replayed: bool = False
    receipt: Receipt
    receipt_url: str


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


class RowError(BaseModel):
    field: str
    message: str


class BulkRowResult(BaseModel):
    row: int
    row_key: str | None = None
    status: Literal["filed", "replayed", "rejected"]
    filing_id: str | None = None
    filing_no: str | None = None
    errors: list[RowError] = Field(default_factory=list)


class BulkResult(BaseModel):
    rows: int
    filed: int
    replayed: int
    rejected: int
    results: list[BulkRowResult]


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
