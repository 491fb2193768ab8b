"""Lot API: a district's lots, one lot with where it came from and went."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Page,
    decode_int_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import get_db
from svc_common.types import SerialId

from quota_svc.api import READERS, OptionalPollutant, check_pollutant, readable_districts
from quota_svc.lots import lineage
from quota_svc.lots.models import Lot
from quota_svc.lots.schemas import LotDetail, LotOut

router = APIRouter(prefix="/quota/lots", tags=["lots"])


@router.get("", response_model=Page[LotOut])
async def list_lots(
    district: DistrictCode | None = None,
    pollutant: OptionalPollutant = None,
    open_only: bool = Query(False, description="only lots with something available"),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[LotOut]:
    """Lots oldest first (the order holds draw on them)."""
    districts = readable_districts(principal, district)
    after = decode_int_cursor(cursor)
    stmt = select(Lot).where(Lot.district.in_(districts))
    if pollutant:
        stmt = stmt.where(Lot.pollutant == check_pollutant(pollutant))
    if open_only:
        stmt = stmt.where(Lot.available_kg > 0)
    if after is not None:
        stmt = stmt.where(keyset_after(after, Lot.id))
    async with db.session() as s:
        rows = list((await s.scalars(stmt.order_by(Lot.id).limit(limit + 1))).all())
    return keyset_page(rows, limit, lambda lot: lot.id, LotOut.of)


@router.get("/{lot_id}", response_model=LotDetail)
async def read_lot(
    lot_id: SerialId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> LotDetail:
    async with db.session() as s:
        lot = principal.found(
            await s.get(Lot, lot_id), msg(f"lot {lot_id} not found", f"批次 {lot_id} 不存在")
        )
        return await lineage.detail(s, lot)
