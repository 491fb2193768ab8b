"""Migration 0011: an application may be a change application
(`changes_permit_id`, null for the permits there before) and may end
`merged`; downgrading reads a merged application as a refused one."""

from __future__ import annotations

import asyncio
import pathlib

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import alembic_config, upgrade

MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/permit_svc/migrations"
INSERT = sa.text(
    "INSERT INTO permits (id, uscc, district, industry_code, category, status,"
    " last_action, pollutants, vocs_kg, quota_drawn_kg, version, created_at,"
    " updated_at) VALUES (:id, 'E-1', '120115', 'C2641', 'key', :status,"
    " 'apply', '{}', 0, 0, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
)


async def test_permits_before_are_no_change_and_merged_reads_refused_downgraded(
    db_url: str,
) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0010")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        await c.execute(INSERT, {"id": "before", "status": "applied"})
    with pytest.raises(IntegrityError):
        async with engine.begin() as c:
            await c.execute(INSERT, {"id": "too-soon", "status": "merged"})
    await engine.dispose()
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        rows = await c.execute(sa.text("SELECT id, changes_permit_id FROM permits"))
        assert [tuple(r) for r in rows.all()] == [("before", None)]
        await c.execute(sa.text("UPDATE permits SET status = 'merged', changes_permit_id = 'held'"))
    await engine.dispose()
    await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS, db_url), "0010")
    engine = create_async_engine(db_url)
    async with engine.connect() as c:
        rows = await c.execute(sa.text("SELECT id, status FROM permits"))
        assert [tuple(r) for r in rows.all()] == [("before", "rejected")]
        columns = await c.run_sync(
            lambda sync: {col["name"] for col in sa.inspect(sync).get_columns("permits")}
        )
    await engine.dispose()
    assert "changes_permit_id" not in columns
