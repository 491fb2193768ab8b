"""/eia/parks."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import district_problem
from svc_common.errors import Conflict, FieldError, Unprocessable, field_error
from svc_common.events.schemas.eia import ParkRegistered
from svc_common.i18n import msg
from svc_common.outbox import emit
from svc_common.service import get_db
from svc_common.types import kg_to_tonnes, tonnes_to_kg, utcnow

from eia_svc.classification.service import all_types
from eia_svc.parks.models import ParkRow
from eia_svc.parks.schemas import ParkIn, ParkName, ParkOut

router = APIRouter(prefix="/eia", tags=["parks"])


def _out(row: ParkRow) -> ParkOut:
    return ParkOut(
        id=row.id,
        name=row.name,
        district=row.district,
        covered_project_types=list(row.covered_project_types),
        vocs_subpool_t=kg_to_tonnes(row.vocs_subpool_kg),
        registered_at=row.registered_at.isoformat(),
        funding_status=row.funding_status or "pending",
        funding_shortfall_t=None
        if row.funding_shortfall_kg is None
        else kg_to_tonnes(row.funding_shortfall_kg),
    )


@router.post("/parks", status_code=201, response_model=ParkOut)
async def register_park(
    body: ParkIn,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> ParkOut:
    """Register a park's bundled EIA; quota-svc carves its VOCs sub-pool from
    the district pool on ParkRegistered."""
    if problem := district_problem(body.district):
        raise field_error("district", problem)
    principal.require_district(body.district)
    async with db.transaction() as s:
        types = await all_types(s)
        unknown = [
            FieldError(
                field=f"covered_project_types.{i}",
                message=msg(f"{c} is not a known type", f"{c} 不是已知的项目类别"),
            )
            for i, c in enumerate(body.covered_project_types)
            if c not in types
        ]
        if unknown:
            raise Unprocessable(
                msg(
                    "covered_project_types: unknown project types",
                    "covered_project_types：项目类别未知",
                ),
                errors=unknown,
            )
        if await s.get(ParkRow, body.id) is not None:
            raise Conflict(
                msg(f"park {body.id} is already registered", f"园区 {body.id} 已登记"),
                park_id=body.id,
            )
        row = ParkRow(
            id=body.id,
            name=body.name,
            district=body.district,
            covered_project_types=sorted(set(body.covered_project_types)),
            vocs_subpool_kg=tonnes_to_kg(body.vocs_subpool_t),
            registered_by=principal.sub,
            registered_at=utcnow(),
            funding_status="pending",
        )
        s.add(row)
        emit(
            s,
            ParkRegistered(
                park_id=row.id,
                district=row.district,
                name=row.name,
                vocs_subpool_t=body.vocs_subpool_t,
                covered_project_types=row.covered_project_types,
            ),
        )
        record_audit(s, principal, "park.register", "park", row.id, body.model_dump(mode="json"))
    return _out(row)


@router.get("/parks", response_model=list[ParkOut])
async def list_parks(
    _: Principal = Depends(require("filer", "officer", "admin", "auditor", "investment")),
    db: Database = Depends(get_db),
) -> list[ParkOut]:
    async with db.session() as s:
        return [_out(r) for r in (await s.execute(select(ParkRow).order_by(ParkRow.id))).scalars()]


@router.get("/public/parks", response_model=list[ParkName])
async def list_park_names(db: Database = Depends(get_db)) -> list[ParkName]:
    """Public, no token: every registered park's id, name and district, so
    the public quota register names a park's sub-pool (园区子池 天津南港工业区)
    for anyone, not by its id."""
    async with db.session() as s:
        rows = (await s.execute(select(ParkRow).order_by(ParkRow.id))).scalars()
        return [ParkName(id=r.id, name=r.name, district=r.district) for r in rows]
