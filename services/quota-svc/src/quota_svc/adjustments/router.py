"""Adjustment API (admin, four eyes): propose, approve, reject, read."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import NotFound
from svc_common.i18n import msg
from svc_common.service import get_db
from svc_common.types import ResourceId, tonnes_to_kg

from quota_svc.adjustments import service
from quota_svc.adjustments.models import Adjustment
from quota_svc.adjustments.schemas import AdjustmentIn, AdjustmentOut
from quota_svc.api import READERS, PollutantPath, check_district, check_pollutant
from quota_svc.ledger.router import overdraft_problem
from quota_svc.ledger.rules import Overdraft

router = APIRouter(prefix="/quota/pools/{district}/{pollutant}/adjustments", tags=["adjustments"])


@router.post("", status_code=201, response_model=AdjustmentOut)
async def propose_adjustment(
    district: DistrictCode,
    pollutant: PollutantPath,
    body: AdjustmentIn,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> AdjustmentOut:
    check_district(district)
    principal.require_district(district)
    check_pollutant(pollutant)
    async with db.transaction() as s:
        a = service.propose(
            s, district, pollutant, tonnes_to_kg(body.amount_t), body.note, principal
        )
    return AdjustmentOut.of(a)


async def _locked(s: AsyncSession, district: str, pollutant: str, adjustment_id: str) -> Adjustment:
    a = await service.lock_adjustment(s, adjustment_id)
    if a is None or a.district != district or a.pollutant != pollutant:
        raise NotFound(
            msg(
                f"adjustment {adjustment_id} not found in {district}/{pollutant}",
                f"{district}/{pollutant} 中没有调整 {adjustment_id}",
            )
        )
    return a


@router.post("/{adjustment_id}/approve", response_model=AdjustmentOut)
async def approve_adjustment(
    district: DistrictCode,
    pollutant: PollutantPath,
    adjustment_id: ResourceId,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> AdjustmentOut:
    principal.require_district(district)
    try:
        async with db.transaction() as s:
            a = await _locked(s, district, pollutant, adjustment_id)
            await service.approve(s, a, principal)
    except Overdraft as od:
        raise overdraft_problem(od) from od
    return AdjustmentOut.of(a)


@router.post("/{adjustment_id}/reject", response_model=AdjustmentOut)
async def reject_adjustment(
    district: DistrictCode,
    pollutant: PollutantPath,
    adjustment_id: ResourceId,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> AdjustmentOut:
    principal.require_district(district)
    async with db.transaction() as s:
        a = await _locked(s, district, pollutant, adjustment_id)
        service.reject(s, a, principal)
    return AdjustmentOut.of(a)


@router.get("/{adjustment_id}", response_model=AdjustmentOut)
async def read_adjustment(
    district: DistrictCode,
    pollutant: PollutantPath,
    adjustment_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> AdjustmentOut:
    principal.require_district(district)
    async with db.session() as s:
        a = await s.get(Adjustment, adjustment_id)
    if a is None or a.district != district or a.pollutant != pollutant:
        raise NotFound(
            msg(
                f"adjustment {adjustment_id} not found in {district}/{pollutant}",
                f"{district}/{pollutant} 中没有调整 {adjustment_id}",
            )
        )
    return AdjustmentOut.of(a)
