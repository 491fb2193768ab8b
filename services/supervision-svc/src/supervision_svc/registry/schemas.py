"""API shapes of the register read model."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from svc_common.types import Tonnes


class PermitOut(BaseModel):
    permit_id: str
    permit_no: str | None
    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    vocs_t: Tonnes
    nox_t: Tonnes
    status_reason: str | None


class EnterpriseOut(BaseModel):
    """An enterprise as supervision-svc learned it from permit-svc."""

    uscc: str
    name: str
    district: str
    industry_code: str
    category: str | None
    operating_status: str
    address: str
    registration_valid_to: dt.date | None
    permits: list[PermitOut] = []
