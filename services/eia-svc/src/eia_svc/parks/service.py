"""Registering and finding parks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from eia_svc.parks.models import ParkRow
from eia_svc.parks.rules import Park


def as_rule(row: ParkRow) -> Park:
    return Park(
        row.id, row.name, row.district, tuple(row.covered_project_types), row.vocs_subpool_kg
    )


async def find_park(s: AsyncSession, park_id: str) -> Park | None:
    row = await s.get(ParkRow, park_id)
    return as_rule(row) if row else None


async def all_parks(s: AsyncSession) -> dict[str, Park]:
    rows = (await s.execute(select(ParkRow).order_by(ParkRow.id))).scalars()
    return {r.id: as_rule(r) for r in rows}
