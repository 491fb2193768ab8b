"""Migration 0004, on SQLite and PostgreSQL: a plan drawn before it gets the
method it was drawn by and no inspector pool (none was kept), and answers
with its tiers all the same; taken down and up again, as an operator rolling
a release back and forward does, the plan is as it was."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import sqlalchemy as sa
import supervision_svc
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine
from supervision_svc.app import create
from supervision_svc.inspections import rules
from supervision_svc.settings import Settings
from svc_common import testing
from svc_common.migrate import alembic_config
from svc_common.types import JSONType, UTCDateTime

from .conftest import AUDITOR, NINGHE

MIGRATIONS = Path(supervision_svc.__file__).parent / "migrations"
_PLANS = sa.table(
    "inspection_plans",
    sa.column("id"),
    sa.column("district"),
    sa.column("period"),
    sa.column("seed"),
    sa.column("requested_count"),
    sa.column("requested_share"),
    sa.column("population"),
    sa.column("weights", JSONType),
    sa.column("candidates", JSONType),
    sa.column("selection", JSONType),
    sa.column("created_by"),
    sa.column("created_at", UTCDateTime),
)
OLD_PLAN = {
    "id": "plan-before-0004",
    "district": NINGHE,
    "period": "2026-Q2",
    "seed": 42,
    "requested_count": 1,
    "requested_share": None,
    "population": 2,
    "weights": {"low": 1, "normal": 2, "high": 4},
    "candidates": [["A1", "high", 4], ["B2", "low", 1]],
    "selection": [
        {"uscc": "A1", "name": "天津甲公司", "tier": "high", "weight": 4, "inspectors": []}
    ],
    "created_by": "officer.120117",
    "created_at": dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC),
}


def _migrate(db_url: str, step: str, revision: str) -> None:
    getattr(command, step)(alembic_config(MIGRATIONS, db_url), revision)


async def _columns(db_url: str) -> dict[str, object]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            row = (
                await c.execute(sa.text("SELECT * FROM inspection_plans WHERE id = :id"), OLD_PLAN)
            ).one()
            return dict(row._mapping)
    finally:
        await engine.dispose()


async def test_a_plan_drawn_before_keeps_its_draw_and_says_what_is_missing(db_url: str) -> None:
    await asyncio.to_thread(_migrate, db_url, "upgrade", "common_v7")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        await c.execute(sa.insert(_PLANS).values(**OLD_PLAN))
    await engine.dispose()

    await asyncio.to_thread(_migrate, db_url, "upgrade", "head")
    row = await _columns(db_url)
    assert (row["draw_method"], row["inspector_pool"]) == (rules.DRAW_METHOD, None)

    await asyncio.to_thread(_migrate, db_url, "downgrade", "common_v7")
    assert "draw_method" not in await _columns(db_url)
    await asyncio.to_thread(_migrate, db_url, "upgrade", "head")
    assert await _columns(db_url) == row

    app = create(Settings(database_url=db_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        r = await http.get(f"/supervision/inspection-plans/{OLD_PLAN['id']}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert (plan["method"], plan["inspector_pool"], plan["sample_size"]) == (
        rules.DRAW_METHOD,
        None,
        1,
    )
    assert [(t["tier"], t["eligible"], t["drawn"]) for t in plan["tiers"]] == [
        ("high", 1, 1),
        ("normal", 0, 0),
        ("low", 1, 0),
    ]
