"""Request and response bodies of the reclaim API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from svc_common.districts import DistrictCode
from svc_common.types import ID_PATTERN, PositiveTonnes, Tonnes, VisibleText, kg_to_tonnes
from svc_common.uscc import USCC

from quota_svc.ledger import rules
from quota_svc.ledger.schemas import PollutantName
from quota_svc.reclaims.models import Reclaim
from quota_svc.reclaims.rules import ReclaimReason


class ReclaimIn(BaseModel):
    """A candidate entered by hand: a closure found on inspection (manual) or a
    verified deep-treatment reduction (reduction). Someone else confirms it."""

    model_config = ConfigDict(extra="forbid")

    district: DistrictCode
    pollutant: PollutantName = rules.VOCS
    amount_t: PositiveTonnes
    source: Literal["manual", "reduction"] = "manual"
    uscc: USCC | None = None
    # An id, not a text: it is published in the public register (`permit=`),
    # where a name or a telephone number typed here would stay for good.
    permit_id: str | None = Field(
        None,
        max_length=64,
        pattern=ID_PATTERN,
        description=(
            "permit-svc's id of the permit (or its number): letters, digits, _ . : -;"
            " a permit the ledger knows must be of the candidate's district"
        ),
    )
    note: Annotated[str, VisibleText(1000)] = Field(description="what was closed or reduced")


class RejectIn(BaseModel):
    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: Annotated[str, VisibleText(1000)]


class ReclaimOut(BaseModel):
    id: str
    district: str
    pollutant: str
    pool_id: str
    amount_t: Tonnes
    source: str
    status: str
    uscc: str | None
    permit_id: str | None
    source_event_id: str | None
    note: str | None
    reason: ReclaimReason | None = Field(
        description="why a cancelled permit's quota is a candidate: the permit's "
        "cancellation reason (closure 企业关停, process_closed 生产工序关停, "
        "merged 企业合并, other 其他原因), or unknown for a candidate made before "
        "the reason was kept whose note does not say it; null for other sources"
    )
    created_by: str
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reject_reason: str | None

    @classmethod
    def of(cls, r: Reclaim) -> ReclaimOut:
        return cls(
            id=r.id,
            district=r.district,
            pollutant=r.pollutant,
            pool_id=r.pool_id,
            amount_t=kg_to_tonnes(r.amount_kg),
            source=r.source,
            status=r.status,
            uscc=r.uscc,
            permit_id=r.permit_id,
            source_event_id=r.source_event_id,
            note=r.note,
            reason=ReclaimReason(r.reason) if r.reason is not None else None,
            created_by=r.created_by,
            created_at=r.created_at,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            reject_reason=r.reject_reason,
        )
