"""Reclaim API: list, enter by hand, confirm, reject."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import field_error
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Page,
    decode_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import get_db
from svc_common.types import ResourceId, tonnes_to_kg

from quota_svc.api import READERS, readable_districts
from quota_svc.reclaims import service
from quota_svc.reclaims.models import Reclaim
from quota_svc.reclaims.rules import ReclaimSource
from quota_svc.reclaims.schemas import ReclaimIn, ReclaimOut, RejectIn

router = APIRouter(prefix="/quota/reclaims", tags=["reclaims"])


def _cursor(cursor: str | None) -> tuple[dt.datetime, str] | None:
    after = decode_cursor(cursor, "time", "str")
    return (after[0], after[1]) if after is not None else None


@router.get("", response_model=Page[ReclaimOut])
async def list_reclaims(
    district: DistrictCode | None = None,
    status: Literal["pending", "confirmed", "rejected"] | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[ReclaimOut]:
    districts = readable_districts(principal, district)
    after = _cursor(cursor)
    stmt = select(Reclaim).where(Reclaim.district.in_(districts))
    if status:
        stmt = stmt.where(Reclaim.status == status)
    if after is not None:
        stmt = stmt.where(keyset_after(after, Reclaim.created_at, Reclaim.id))
    async with db.session() as s:
        rows = list(
            (await s.scalars(stmt.order_by(Reclaim.created_at, Reclaim.id).limit(limit + 1))).all()
        )
    return keyset_page(rows, limit, lambda r: [r.created_at.isoformat(), r.id], ReclaimOut.of)


@router.post("", status_code=201, response_model=ReclaimOut)
async def enter_candidate(
    body: ReclaimIn,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> ReclaimOut:
    principal.require_district(body.district)
    candidate = service.Candidate(
        district=body.district,
        pollutant=body.pollutant,
        amount_kg=tonnes_to_kg(body.amount_t),
        source=ReclaimSource(body.source),
        uscc=body.uscc,
        permit_id=body.permit_id,
        note=body.note,
    )
    async with db.transaction() as s:
        if body.permit_id is not None and (
            problem := await service.permit_problem(s, principal, body.permit_id, body.district)
        ):
            raise field_error("permit_id", problem)
        r, _ = await service.add_candidate(s, candidate, principal)
    return ReclaimOut.of(r)


async def _locked(s: AsyncSession, reclaim_id: str, principal: Principal) -> Reclaim:
    return principal.found(
        await service.lock_reclaim(s, reclaim_id),
        msg(f"reclaim candidate {reclaim_id} not found", f"收回候选 {reclaim_id} 不存在"),
    )


@router.post("/{reclaim_id}/confirm", response_model=ReclaimOut)
async def confirm_reclaim(
    reclaim_id: ResourceId,
    principal: Principal = Depends(require("officer")),
    db: Database = Depends(get_db),
) -> ReclaimOut:
    """An officer of the candidate's district confirms: the pool is credited."""
    async with db.transaction() as s:
        r = await _locked(s, reclaim_id, principal)
        await service.confirm(s, r, principal)
    return ReclaimOut.of(r)


@router.post("/{reclaim_id}/reject", response_model=ReclaimOut)
async def reject_reclaim(
    reclaim_id: ResourceId,
    body: RejectIn,
    principal: Principal = Depends(require("officer")),
    db: Database = Depends(get_db),
) -> ReclaimOut:
    async with db.transaction() as s:
        r = await _locked(s, reclaim_id, principal)
        service.reject(s, r, body.reason, principal)
    return ReclaimOut.of(r)
