"""Request and response bodies of the swap API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from svc_common.districts import DistrictCode
from svc_common.types import PositiveTonnes, TotalTonnes, VisibleText, kg_to_tonnes

from quota_svc.ledger import rules
from quota_svc.ledger.schemas import PollutantName
from quota_svc.swaps.models import Swap


class SwapIn(BaseModel):
    """Move quota from one district's pool to another's (跨区调剂)."""

    from_district: DistrictCode = Field(alias="from")
    to_district: DistrictCode = Field(alias="to")
    pollutant: PollutantName = rules.VOCS
    amount_t: PositiveTonnes
    reason: Annotated[str, VisibleText(1000)]

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CancelIn(BaseModel):
    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: Annotated[str, VisibleText(1000)]


class SwapOut(BaseModel):
    id: str
    from_district: str
    to_district: str
    pollutant: str
    amount_t: TotalTonnes
    reason: str
    status: str
    proposed_by: str
    proposed_at: dt.datetime
    from_approved_by: str | None
    to_approved_by: str | None
    effective_at: dt.datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    settled_at: dt.datetime | None
    lots: list[list[int]] | None

    @classmethod
    def of(cls, sw: Swap) -> SwapOut:
        return cls(
            id=sw.id,
            from_district=sw.from_district,
            to_district=sw.to_district,
            pollutant=sw.pollutant,
            amount_t=kg_to_tonnes(sw.amount_kg),
            reason=sw.reason,
            status=sw.status,
            proposed_by=sw.proposed_by,
            proposed_at=sw.proposed_at,
            from_approved_by=sw.from_approved_by,
            to_approved_by=sw.to_approved_by,
            effective_at=sw.effective_at,
            cancelled_by=sw.cancelled_by,
            cancel_reason=sw.cancel_reason,
            settled_at=sw.settled_at,
            lots=sw.lots,
        )
