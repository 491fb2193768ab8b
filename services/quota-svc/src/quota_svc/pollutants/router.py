"""GET /quota/pollutants: what the ledger keeps, with units and rounding."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from quota_svc.pollutants.rules import POLLUTANTS

router = APIRouter(prefix="/quota", tags=["pollutants"])


class PollutantOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    medium: str
    unit: str
    decimals: int
    need_rounding: str
    max_increment_rounding: str
    follows_air_quality: bool


@router.get("/pollutants", response_model=list[PollutantOut])
async def list_pollutants() -> list[PollutantOut]:
    """Public: the pollutants under total-quantity control (总量控制), their
    units and how amounts are rounded."""
    return [
        PollutantOut(**{**p.__dict__, "follows_air_quality": p.follows_air_quality})
        for p in POLLUTANTS.values()
    ]
