"""/eia/control-units."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import Database, hold_lock
from svc_common.districts import DistrictCode, district_problem
from svc_common.errors import field_error
from svc_common.i18n import msg
from svc_common.industries import industry_code_problem, normalise_industry_code
from svc_common.service import get_db
from svc_common.types import CODE_PATTERN, utcnow

from eia_svc.control_units.models import ControlUnitRow
from eia_svc.control_units.schemas import ControlUnitIn, ControlUnitOut

router = APIRouter(prefix="/eia", tags=["control units"])
CODE = re.compile(CODE_PATTERN)


def _out(row: ControlUnitRow) -> ControlUnitOut:
    return ControlUnitOut(
        code=row.code,
        name=row.name,
        district=row.district,
        kind=row.kind,
        banned_industries=list(row.banned_industries),
        rule=row.rule,
    )


@router.put("/control-units/{code}", response_model=ControlUnitOut)
async def put_control_unit(
    code: Annotated[str, Path(pattern=CODE_PATTERN, description="the unit's code")],
    body: ControlUnitIn,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> ControlUnitOut:
    if not CODE.match(code):
        raise field_error(
            "code",
            msg("must be 1-40 letters, digits, '-' or '_'", "须为 1-40 个字母、数字、- 或 _"),
        )
    if problem := district_problem(body.district):
        raise field_error("district", problem)
    principal.require_district(body.district)
    for i, entry in enumerate(body.banned_industries):
        if problem := industry_code_problem(entry, prefix=True):
            raise field_error(
                f"banned_industries.{i}",
                msg(
                    f"must be an industry code or prefix (GB/T 4754, e.g. C26 or C2614): {problem}",
                    f"须为国民经济行业代码或其前缀（如 C26、C2614）：{problem}",
                ),
            )
    banned = [normalise_industry_code(e, prefix=True) for e in body.banned_industries]
    async with db.transaction() as s:
        # A unit not there yet has no row to lock: two first PUTs at once
        # would both insert, and one be refused.
        await hold_lock(s, "eia.control_units", code)
        row = await s.get(ControlUnitRow, code, with_for_update=True)
        if row is not None:
            principal.require_district(row.district)  # nor move another's unit
        if row is None:
            row = ControlUnitRow(code=code)
            s.add(row)
        row.name, row.district, row.kind = body.name, body.district, body.kind
        row.banned_industries, row.rule, row.updated_at = banned, body.rule, utcnow()
        record_audit(s, principal, "control_unit.put", "control_unit", code, body.model_dump())
    return _out(row)


@router.get("/control-units", response_model=list[ControlUnitOut])
async def list_control_units(
    district: DistrictCode | None = None,
    _: Principal = Depends(require("filer", "officer", "admin", "auditor", "investment")),
    db: Database = Depends(get_db),
) -> list[ControlUnitOut]:
    """Ecological-environment control units (生态环境管控单元): published zoning,
    readable in every district (a filer names one in any district's form)."""
    q = select(ControlUnitRow).order_by(ControlUnitRow.code)
    if district:
        q = q.where(ControlUnitRow.district == district)
    async with db.session() as s:
        return [_out(r) for r in (await s.execute(q)).scalars()]
