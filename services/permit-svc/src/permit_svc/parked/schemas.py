"""What the API says of a parked filing."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from svc_common.types import Tonnes

from permit_svc.parked.rules import ParkedState, ParkReason


class ParkedFilingOut(BaseModel):
    filing_id: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: str
    project_ref: str
    vocs_increment_t: Tonnes
    received_at: dt.datetime = Field(description="when the approval reached permit-svc")
    reason: ParkReason
    reason_text: str = Field(description="the reason in words (zh-CN first)")
    state: ParkedState = Field(description="waiting: not drafted yet; drafted: done")
    drafted_at: dt.datetime | None
    permit_id: str | None = Field(
        description="the application drafted; none when the industry turned out to be under "
        "registration management (the enterprise files a registration itself)"
    )
