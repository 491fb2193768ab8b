"""Advance use API (先用后补): a district's advance limit, and its debts."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, not_, select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import Runtime, get_db, runtime
from svc_common.types import Tonnes, TotalTonnes, kg_to_tonnes, tonnes_to_kg, utcnow

from quota_svc.api import (
    READERS,
    OptionalPollutant,
    PollutantPath,
    check_district,
    check_pollutant,
    readable_districts,
)
from quota_svc.debts import rules, service
from quota_svc.debts.models import AdvanceLimit, Debt
from quota_svc.debts.rules import DebtStatus
from quota_svc.register import service as register
from quota_svc.settings import Settings

router = APIRouter(prefix="/quota", tags=["advance use"])


class AdvanceLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit_t: Tonnes = Field(description="most the district may owe at once")
    term_days: int = Field(
        ge=1, le=rules.MAX_TERM_DAYS, description="days until an advance must be repaid"
    )


class AdvanceLimitOut(BaseModel):
    district: str
    pollutant: str
    limit_t: TotalTonnes
    term_days: int
    outstanding_t: TotalTonnes
    overdue_t: TotalTonnes


class DebtOut(BaseModel):
    id: str
    district: str
    pollutant: str
    pool_id: str
    reservation_id: str | None
    lot_id: int
    amount_t: TotalTonnes
    repaid_t: TotalTonnes
    #: Released unused with the hold it was for: owed no more, never repaid.
    withdrawn_t: TotalTonnes
    outstanding_t: TotalTonnes
    status: str
    due_at: dt.datetime
    overdue: bool
    approved_by: str
    created_at: dt.datetime
    repaid_at: dt.datetime | None

    @classmethod
    def of(cls, d: Debt, now: dt.datetime) -> DebtOut:
        left = rules.outstanding(d.amount_kg, d.repaid_kg, d.withdrawn_kg)
        return cls(
            id=d.id,
            district=d.district,
            pollutant=d.pollutant,
            pool_id=d.pool_id,
            reservation_id=d.reservation_id,
            lot_id=d.lot_id,
            amount_t=kg_to_tonnes(d.amount_kg),
            repaid_t=kg_to_tonnes(d.repaid_kg),
            withdrawn_t=kg_to_tonnes(d.withdrawn_kg),
            outstanding_t=kg_to_tonnes(left),
            status=d.status,
            due_at=d.due_at,
            overdue=rules.is_overdue(d.due_at, left, now),
            approved_by=d.approved_by,
            created_at=d.created_at,
            repaid_at=d.repaid_at,
        )


def _settings(rt: Runtime) -> Settings:
    assert isinstance(rt.settings, Settings)
    return rt.settings


async def _limit_out(rt: Runtime, s: object, district: str, pollutant: str) -> AdvanceLimitOut:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(s, AsyncSession)
    st = _settings(rt)
    limit_kg, term = await service.limit_in_force(
        s, district, pollutant, tonnes_to_kg(st.default_advance_limit_t), st.debt_term_days
    )
    pool_id = f"{district}:{pollutant}"
    outstanding, overdue = (await service.outstanding_by_pool(s, [pool_id])).get(pool_id, (0, 0))
    return AdvanceLimitOut(
        district=district,
        pollutant=pollutant,
        limit_t=kg_to_tonnes(limit_kg),
        term_days=term,
        outstanding_t=kg_to_tonnes(outstanding),
        overdue_t=kg_to_tonnes(overdue),
    )


@router.put("/advance-limits/{district}/{pollutant}", response_model=AdvanceLimitOut)
async def set_advance_limit(
    district: DistrictCode,
    pollutant: PollutantPath,
    body: AdvanceLimitIn,
    principal: Principal = Depends(require("admin")),
    rt: Runtime = Depends(runtime),
) -> AdvanceLimitOut:
    check_district(district)
    check_pollutant(pollutant)
    principal.require_district(district)
    async with rt.db.transaction() as s:
        s.add(
            AdvanceLimit(
                district=district,
                pollutant=pollutant,
                limit_kg=tonnes_to_kg(body.limit_t),
                term_days=body.term_days,
                set_by=principal.sub,
                recorded_at=utcnow(),
            )
        )
        record_audit(
            s,
            principal,
            "quota.advance_limit.set",
            "district",
            f"{district}:{pollutant}",
            {"limit_kg": tonnes_to_kg(body.limit_t), "term_days": body.term_days},
        )
        register.record(
            s,
            "advance_limit",
            district=district,
            pollutant=pollutant,
            amount_kg=tonnes_to_kg(body.limit_t),
            term_days=body.term_days,
        )
        await s.flush()
        return await _limit_out(rt, s, district, pollutant)


@router.get("/advance-limits/{district}/{pollutant}", response_model=AdvanceLimitOut)
async def get_advance_limit(
    district: DistrictCode,
    pollutant: PollutantPath,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> AdvanceLimitOut:
    check_district(district)
    check_pollutant(pollutant)
    principal.require_district(district)
    async with rt.db.session() as s:
        return await _limit_out(rt, s, district, pollutant)


@router.get("/debts", response_model=Page[DebtOut])
async def list_debts(
    district: DistrictCode | None = None,
    pollutant: OptionalPollutant = None,
    overdue: bool | None = Query(None, description="true: only overdue debts; false: the others"),
    status: DebtStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[DebtOut]:
    """Debts of advance use, oldest first (the order they are repaid in), a
    page at a time (`next_cursor` until the last)."""
    districts = readable_districts(principal, district)
    after = decode_cursor(cursor, "time", "str")
    now = utcnow()
    stmt = select(Debt).where(Debt.district.in_(districts))
    if pollutant:
        stmt = stmt.where(Debt.pollutant == check_pollutant(pollutant))
    if status:
        stmt = stmt.where(Debt.status == status.value)
    # Overdue (rules.is_overdue): an open debt, so something left to repay, past its due.
    overdue_now = and_(Debt.status == DebtStatus.OPEN.value, Debt.due_at < now)
    if overdue:
        stmt = stmt.where(overdue_now)
    elif overdue is False:
        stmt = stmt.where(not_(overdue_now))
    if after is not None:
        stmt = stmt.where(keyset_after(after, Debt.created_at, Debt.id))
    async with db.session() as s:
        rows = (await s.scalars(stmt.order_by(Debt.created_at, Debt.id).limit(limit + 1))).all()
    return keyset_page(
        rows, limit, lambda d: [d.created_at.isoformat(), d.id], lambda d: DebtOut.of(d, now)
    )
