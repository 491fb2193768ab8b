"""Request and response bodies of the reservation API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from svc_common.districts import DistrictCode
from svc_common.i18n import msg
from svc_common.types import (
    PROJECT_REF_FORMS,
    PositiveIncrementTonnes,
    PositiveTonnes,
    ProjectRef,
    Ratio,
    Tonnes,
    TotalTonnes,
    VisibleText,
    kg_to_tonnes,
)
from svc_common.uscc import USCC

from quota_svc.ledger import rules
from quota_svc.ledger.schemas import PollutantName
from quota_svc.reservations import rules as rules_of_reservations
from quota_svc.reservations.models import Reservation, ReservationRow


class ReservationIn(BaseModel):
    """Hold a project's quota need (预留)."""

    model_config = ConfigDict(extra="forbid")

    district: DistrictCode
    pollutant: PollutantName = rules.VOCS
    increment_t: PositiveIncrementTonnes = Field(description="the project's VOCs increment, t/a")
    # An identifier: no spaces around it, nothing invisible in it (" P-1" and
    # "P\u200b-1" were refs other than "P-1", so one project held twice), and
    # full-width forms folded ("Ｐ-1" was another project too). Case counts:
    # refs are approval numbers and project codes, matched as written by
    # permit-svc, and the live-project index is on the ref as stored.
    project_ref: ProjectRef = Field(
        description="the project's reference, unique among live reservations, with no "
        f"spaces around it; {PROJECT_REF_FORMS}; refs beginning `eia:` (in any case or "
        "width) are EIA filings', reserved by their review alone",
        json_schema_extra={"not": {"pattern": "^[Ee][Ii][Aa]:"}},
    )
    uscc: USCC | None = None
    park_id: str | None = Field(None, pattern=rules.PARK_ID_PATTERN)
    priority_reserve: bool = Field(False, description="draw on the 政府储备 (admin only)")
    lot_id: int | None = Field(
        None,
        ge=1,
        description="draw on this lot of the reservation's pool rather than the oldest ones "
        "(admin only); a lot of another pool, or none, is refused with 422",
    )
    advance: bool = Field(
        False,
        description="先用后补: hold beyond what is available, up to the district's advance "
        "limit, creating a debt (admin only)",
    )

    @field_validator("project_ref")
    @classmethod
    def _not_a_filings(cls, ref: str) -> str:
        if rules_of_reservations.looks_like_filing_ref(ref):
            raise ValueError(
                msg(
                    "refs beginning eia: belong to EIA filings, whose quota is reserved "
                    "when the filing is accepted",
                    "以 eia: 开头的项目编号属于环评文件，其总量在文件受理时自动预留",
                )
            )
        return ref


class AllocateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_t: PositiveTonnes | None = Field(
        None, description="more than 0; default: all that is held (release what is not needed)"
    )


class ReleaseIn(BaseModel):
    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: Annotated[str, VisibleText(500)]


class ReservationOut(BaseModel):
    id: str
    project_ref: str
    uscc: str | None
    district: str
    pollutant: str
    pool_id: str
    status: str
    increment_t: Tonnes
    offset_ratio: Ratio
    required_t: TotalTonnes
    allocated_t: TotalTonnes
    released_t: TotalTonnes
    release_reason: str | None
    note: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    resolved_at: dt.datetime | None
    lots: list[list[int]] | None = Field(None, description="[[lot_id, kg], ...] drawn on")

    @classmethod
    def of(cls, r: Reservation | ReservationRow) -> ReservationOut:
        return cls(
            id=r.id,
            project_ref=r.project_ref,
            uscc=r.uscc,
            district=r.district,
            pollutant=r.pollutant,
            pool_id=r.pool_id,
            status=r.status,
            increment_t=kg_to_tonnes(r.increment_kg),
            offset_ratio=rules.hundredths_to_ratio(r.offset_ratio_hundredths),
            required_t=kg_to_tonnes(r.held_kg),
            allocated_t=kg_to_tonnes(r.allocated_kg),
            released_t=kg_to_tonnes(r.released_kg),
            release_reason=r.release_reason,
            note=r.note,
            created_at=r.created_at,
            expires_at=r.expires_at,
            resolved_at=r.resolved_at,
            lots=r.lots,
        )
