"""/supervision/enterprises: the register as this service learned it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import NotFound
from svc_common.i18n import msg
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_after, keyset_page
from svc_common.service import get_db
from svc_common.types import kg_to_tonnes
from svc_common.uscc import USCC

from supervision_svc.registry import service
from supervision_svc.registry.models import Enterprise, Permit
from supervision_svc.registry.schemas import EnterpriseOut, PermitOut
from supervision_svc.scope import READERS, visible_districts
from supervision_svc.validation import cursor_str, uscc_param

router = APIRouter(prefix="/supervision", tags=["register"])


def permit_out(p: Permit) -> PermitOut:
    return PermitOut(
        permit_id=p.permit_id,
        permit_no=p.permit_no,
        status=p.status,
        valid_from=p.valid_from,
        valid_to=p.valid_to,
        vocs_t=kg_to_tonnes(p.vocs_kg),
        nox_t=kg_to_tonnes(p.nox_kg),
        status_reason=p.status_reason,
    )


def enterprise_out(e: Enterprise, permits: list[Permit] | None = None) -> EnterpriseOut:
    return EnterpriseOut(
        uscc=e.uscc,
        name=e.name,
        district=e.district,
        industry_code=e.industry_code,
        category=e.category,
        operating_status=e.operating_status,
        address=e.address,
        registration_valid_to=e.registration_valid_to,
        permits=[permit_out(p) for p in permits or []],
    )


@router.get("/enterprises/{uscc}", response_model=EnterpriseOut)
async def get_enterprise(
    uscc: USCC,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> EnterpriseOut:
    """An enterprise with its permits, as learned from permit-svc's events."""
    uscc = uscc_param(uscc, "uscc")
    async with db.session() as s:
        e = await service.enterprise(s, uscc)
        if e is None or not principal.may_act_in(e.district):
            raise NotFound(msg(f"no enterprise {uscc}", f"没有企业 {uscc}"))
        permits = await service.permits_of(s, uscc)
    return enterprise_out(e, permits)


@router.get("/enterprises", response_model=Page[EnterpriseOut])
async def list_enterprises(
    district: DistrictCode | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[EnterpriseOut]:
    """The register by USCC, limited to the caller's districts."""
    districts = visible_districts(principal, district)
    q = select(Enterprise).order_by(Enterprise.uscc).limit(limit + 1)
    if districts is not None:
        q = q.where(Enterprise.district.in_(districts))
    if cursor:
        q = q.where(keyset_after(cursor_str(cursor), Enterprise.uscc))
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
        # Each enterprise with its permits, as in the single view: an empty
        # list would read as "no permit" for every one of them.
        permits = await service.permits_of_many(s, [e.uscc for e in rows[:limit]])
    return keyset_page(rows, limit, lambda e: e.uscc, lambda e: enterprise_out(e, permits[e.uscc]))
