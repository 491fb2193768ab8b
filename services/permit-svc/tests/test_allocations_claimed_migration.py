"""Migration 0004: allocations naming no enterprise, drawn on before an
allocation backed one enterprise only, go to the enterprise that drew."""

from __future__ import annotations

import asyncio
import pathlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import upgrade

MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/permit_svc/migrations"
BAODI, NANKAI = "120115", "120104"


def _permit(pid: str, uscc: str, district: str, project: str, drawn: int) -> str:
    return (
        "INSERT INTO permits (id, uscc, district, industry_code, category, status,"
        " last_action, pollutants, vocs_kg, quota_drawn_kg, project_ref, version,"
        " created_at, updated_at) VALUES"
        f" ('{pid}', '{uscc}', '{district}', 'C2641', 'key', 'issued', 'issue', '{{}}',"
        f" {drawn}, {drawn}, '{project}', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )


def _allocation(rid: str, project: str, district: str, uscc: str | None = None) -> str:
    named = f"'{uscc}'" if uscc else "NULL"
    return (
        "INSERT INTO quota_allocations (reservation_id, project_ref, uscc, district,"
        " pollutant, amount_kg, increment_kg, source_event_id, received_at) VALUES"
        f" ('{rid}', '{project}', {named}, '{district}', 'VOCs', 2000, 1000, 'e-{rid}',"
        " '2026-01-01 00:00:00')"
    )


async def test_an_allocation_one_enterprise_drew_on_becomes_its_own(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "common_v7")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        for stmt in (
            _permit("p1", "E-ONE", BAODI, "P-1", 1000),  # drew on P-1: it is E-ONE's
            _permit("p2", "E-TWO", BAODI, "P-2", 1000),  # P-2 cited by two: left
            _permit("p3", "E-THREE", BAODI, "P-2", 500),
            _permit("p4", "E-FOUR", BAODI, "P-4", 0),  # drew nothing: left
            _permit("p5", "E-FIVE", NANKAI, "P-5", 1000),  # another district: left
            _allocation("r1", "P-1", BAODI),
            _allocation("r2", "P-2", BAODI),
            _allocation("r4", "P-4", BAODI),
            _allocation("r5", "P-5", BAODI),
            _allocation("r6", "P-1", BAODI, "E-NAMED"),  # named already: kept
        ):
            await c.execute(sa.text(stmt))
    await engine.dispose()
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    engine = create_async_engine(db_url)
    async with engine.connect() as c:
        rows = await c.execute(
            sa.text("SELECT reservation_id, uscc FROM quota_allocations ORDER BY reservation_id")
        )
        owners = dict(rows.all())
    await engine.dispose()
    assert owners == {"r1": "E-ONE", "r2": None, "r4": None, "r5": None, "r6": "E-NAMED"}
