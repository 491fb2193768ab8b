"""Storing and finding control units."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from eia_svc.control_units.models import ControlUnitRow
from eia_svc.control_units.rules import ControlUnit


def as_rule(row: ControlUnitRow) -> ControlUnit:
    return ControlUnit(
        row.code, row.name, row.district, row.kind, tuple(row.banned_industries), row.rule
    )


async def find_unit(s: AsyncSession, code: str) -> ControlUnit | None:
    row = await s.get(ControlUnitRow, code)
    return as_rule(row) if row else None


async def all_units(s: AsyncSession) -> dict[str, ControlUnit]:
    rows = (await s.execute(select(ControlUnitRow).order_by(ControlUnitRow.code))).scalars()
    return {r.code: as_rule(r) for r in rows}
