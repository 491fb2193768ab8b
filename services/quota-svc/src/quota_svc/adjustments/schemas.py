"""Request and response bodies of the adjustment API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from svc_common.i18n import msg
from svc_common.types import NonZeroSignedTonnes, SignedTonnes, VisibleText, kg_to_tonnes

from quota_svc.adjustments.models import Adjustment


class AdjustmentIn(BaseModel):
    """A correction of the pool's credited amount: positive adds, negative
    removes (a reversing entry; the journal is never edited)."""

    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    amount_t: NonZeroSignedTonnes
    note: Annotated[str, VisibleText(1000)] = Field(description="why")

    @field_validator("amount_t")
    @classmethod
    def _nonzero(cls, v: Decimal) -> Decimal:
        if v == 0:
            raise ValueError(msg("must not be 0", "不得为 0"))
        return v


class AdjustmentOut(BaseModel):
    id: str
    pool_id: str
    district: str
    pollutant: str
    amount_t: SignedTonnes
    note: str
    status: str
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None

    @classmethod
    def of(cls, a: Adjustment) -> AdjustmentOut:
        return cls(
            id=a.id,
            pool_id=a.pool_id,
            district=a.district,
            pollutant=a.pollutant,
            amount_t=kg_to_tonnes(a.amount_kg),
            note=a.note,
            status=a.status,
            proposed_by=a.proposed_by,
            proposed_at=a.proposed_at,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
        )
