"""Migration 0008, on SQLite and PostgreSQL: allocations learnt and permits
applied for under a full-width project ref ("Ｐ－４１") keep it in ASCII
("P-41"), as quota-svc and the permit API now take it; case is kept, and
running it again changes nothing."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import alembic_config, upgrade

from .test_allocations_claimed_migration import BAODI, MIGRATIONS, _allocation, _permit


async def refs(db_url: str) -> tuple[dict[str, str], dict[str, str | None]]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            allocations = await c.execute(
                sa.text("SELECT reservation_id, project_ref FROM quota_allocations")
            )
            permits = await c.execute(sa.text("SELECT id, project_ref FROM permits"))
            return dict(allocations.all()), dict(permits.all())
    finally:
        await engine.dispose()


async def test_project_refs_are_kept_in_ascii(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0007")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        for stmt in (
            _permit("p1", "E-ONE", BAODI, "Ｐ－４１", 0),
            _permit("p2", "E-TWO", BAODI, "ｐ-42　Ａ", 0),
            _permit("p3", "E-THREE", BAODI, "P-43", 0),
            _allocation("r1", "Ｐ－４１", BAODI),
            _allocation("r2", "津环审〔２０２６〕１２号", BAODI),
            _allocation("r3", "eia:7a457e9f-3b1c-4c3e-9d7a-0b6f1e2d3c4b", BAODI),
        ):
            await c.execute(sa.text(stmt))
        await c.execute(sa.text("UPDATE permits SET project_ref = NULL WHERE id = 'p3'"))
    await engine.dispose()
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    after = await refs(db_url)
    assert after == (
        {
            "r1": "P-41",
            "r2": "津环审〔2026〕12号",
            "r3": "eia:7a457e9f-3b1c-4c3e-9d7a-0b6f1e2d3c4b",
        },
        {"p1": "P-41", "p2": "p-42 A", "p3": None},
    )
    # Again (down to 0007, which changes nothing back, and up): nothing changes.
    config = alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.downgrade, config, "0007")
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    assert await refs(db_url) == after
