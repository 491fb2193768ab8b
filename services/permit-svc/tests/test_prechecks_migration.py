"""Migration 0010: a permit keeps its pre-acceptance checks; the permits
there before keep none (`prechecks` null, `attention` 0) and read as such."""

from __future__ import annotations

import asyncio
import pathlib

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import alembic_config, upgrade

MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/permit_svc/migrations"


async def test_permits_applied_for_before_keep_no_checks(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0009")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        await c.execute(
            sa.text(
                "INSERT INTO permits (id, uscc, district, industry_code, category, status,"
                " last_action, pollutants, vocs_kg, quota_drawn_kg, version, created_at,"
                " updated_at) VALUES ('before', 'E-1', '120115', 'C2641', 'key', 'applied',"
                " 'apply', '{}', 0, 0, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    await engine.dispose()
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        rows = await c.execute(sa.text("SELECT id, prechecks, attention FROM permits"))
        assert [tuple(r) for r in rows.all()] == [("before", None, 0)]
        await c.execute(
            sa.text("UPDATE permits SET prechecks = :p, attention = 1"),
            {"p": '[{"code": "zero_amount", "passed": false, "field": null}]'},
        )
    await engine.dispose()
    await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS, db_url), "0009")
    engine = create_async_engine(db_url)
    async with engine.connect() as c:
        columns = await c.run_sync(
            lambda sync: {col["name"] for col in sa.inspect(sync).get_columns("permits")}
        )
    await engine.dispose()
    assert "prechecks" not in columns and "attention" not in columns
