"""Migration 0007 gives the shipped E4819 row back the condition an earlier
loader dropped, once (start-up no longer touches the table): only a row
still reading as it was loaded wrong, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import eia_svc
import sqlalchemy as sa
from alembic import command
from eia_svc.classification.models import ProjectTypeRow
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import alembic_config

MIGRATIONS = Path(eia_svc.__file__).parent / "migrations"
LOADED = "原有道路维修、改造"
RULE = "原有道路维修、改造,不新增占地(免于环评管理)"


def _type(code: str, rule: str) -> dict[str, str]:
    return {
        "code": code,
        "name": "市政道路维修改造",
        "industry_code": "E4819",
        "category": "exempt",
        "rule": rule,
    }


async def _rules(url: str) -> dict[str, str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(ProjectTypeRow.code, ProjectTypeRow.rule))
            return {r.code: r.rule for r in rows}
    finally:
        await engine.dispose()


async def test_the_e4819_rule_loaded_wrong_is_repaired_once(db_url: str) -> None:
    cfg = alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.upgrade, cfg, "0006")
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(ProjectTypeRow),
                # E4819 as loaded wrong; another code with those words is the
                # bureau's own row, left alone.
                [_type("E4819", LOADED), _type("E4819-b", LOADED)],
            )
    finally:
        await engine.dispose()
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _rules(db_url) == {"E4819": RULE, "E4819-b": LOADED}
    # Down and up again: as it was repaired.
    await asyncio.to_thread(command.downgrade, cfg, "0006")
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _rules(db_url) == {"E4819": RULE, "E4819-b": LOADED}


async def test_a_table_the_bureau_imported_is_left_alone(db_url: str) -> None:
    cfg = alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.upgrade, cfg, "0006")
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(ProjectTypeRow), [_type("E4819", "本局的规则")])
    finally:
        await engine.dispose()
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _rules(db_url) == {"E4819": "本局的规则"}
