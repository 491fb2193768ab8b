"""Request and response bodies of the availability API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from svc_common.districts import DistrictCode
from svc_common.types import (
    PositiveIncrementTonnes,
    Ratio,
    Tonnes,
    TotalTonnes,
    kg_text,
    kg_to_tonnes,
)

from quota_svc.availability.rules import Availability, Check, ListedPool
from quota_svc.ledger import rules
from quota_svc.ledger.schemas import PollutantName


class PoolAvailability(BaseModel):
    pool_id: str
    district: str
    district_name: str
    pollutant: str
    kind: str
    park_id: str | None
    credited_t: TotalTonnes
    reserved_t: TotalTonnes
    allocated_t: TotalTonnes
    available_t: TotalTonnes
    reclaimed_t: TotalTonnes
    offset_ratio: Ratio
    max_project_increment_t: TotalTonnes
    debt_t: TotalTonnes
    overdue_debt_t: TotalTonnes

    @staticmethod
    def row(pool: ListedPool, a: Availability) -> dict[str, str | None]:
        """The pool's row as the answer writes it, built as plain data, no
        model: every figure is an integer of the ledger written to three
        places exactly (`kg_text`), so a model would validate nothing and,
        for the sixteen districts of the investment staff's default view,
        cost a sixth of the request (bench/RESULTS.md, 2026-12-04). The
        keys are this model's fields, in order; test_rules holds the JSON
        to what the validated model writes, byte for byte."""
        b = a.balance
        return {
            "pool_id": pool.id,
            "district": pool.district,
            "district_name": rules.DISTRICTS.get(pool.district, ""),
            "pollutant": pool.pollutant,
            "kind": pool.kind,
            "park_id": pool.park_id,
            "credited_t": kg_text(b.credited),
            "reserved_t": kg_text(b.reserved),
            "allocated_t": kg_text(b.allocated),
            "available_t": kg_text(b.available),
            "reclaimed_t": kg_text(a.reclaimed_kg),
            "offset_ratio": rules.hundredths_text(a.offset_ratio_hundredths),
            "max_project_increment_t": kg_text(a.max_project_increment_kg),
            "debt_t": kg_text(a.debt_kg),
            "overdue_debt_t": kg_text(a.overdue_debt_kg),
        }


class CheckIn(BaseModel):
    """A what-if: would a project of this increment fit now?"""

    model_config = ConfigDict(extra="forbid")

    district: DistrictCode
    pollutant: PollutantName = rules.VOCS
    increment_t: PositiveIncrementTonnes
    park_id: str | None = Field(None, pattern=rules.PARK_ID_PATTERN)


class CheckOut(BaseModel):
    pool_id: str
    fits: bool
    increment_t: Tonnes
    offset_ratio: Ratio
    required_t: TotalTonnes
    available_t: TotalTonnes
    shortfall_t: TotalTonnes
    max_project_increment_t: TotalTonnes

    @classmethod
    def of(cls, pool_id: str, increment_kg: int, ratio_h: int, c: Check) -> CheckOut:
        return cls(
            pool_id=pool_id,
            fits=c.fits,
            increment_t=kg_to_tonnes(increment_kg),
            offset_ratio=rules.hundredths_to_ratio(ratio_h),
            required_t=kg_to_tonnes(c.required_kg),
            available_t=kg_to_tonnes(c.available_kg),
            shortfall_t=kg_to_tonnes(c.shortfall_kg),
            max_project_increment_t=kg_to_tonnes(rules.max_increment_kg(c.available_kg, ratio_h)),
        )
