"""Migration 0006: each permit keeps the first day of its unbroken validity.
Never renewed: its `valid_from`. Renewed here: the day it was issued (its
`permit.issue` entry, in Beijing). Imported and then renewed: five years
before the renewed term (terms follow on)."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import upgrade

MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/permit_svc/migrations"


def _permit(pid: str, valid_from: str | None) -> str:
    start = f"'{valid_from}'" if valid_from else "NULL"
    return (
        "INSERT INTO permits (id, uscc, district, industry_code, category, status,"
        " last_action, pollutants, vocs_kg, quota_drawn_kg, version, valid_from, valid_to,"
        " created_at, updated_at) VALUES"
        f" ('{pid}', 'E-{pid}', '120115', 'C2641', 'key', 'issued', 'renew', '{{}}',"
        f" 0, 0, 2, {start}, {start}, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )


def _entry(pid: str, action: str, at: str) -> str:
    return (
        "INSERT INTO audit_log (at, actor, role, action, target_type, target_id) VALUES"
        f" ('{at}', 'li.hua', 'officer', '{action}', 'permit', '{pid}')"
    )


async def test_the_first_day_of_validity_is_filled_in(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0005")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        for stmt in (
            _permit("plain", "2026-05-01"),
            _permit("applied", None),
            _permit("issued", "2031-05-01"),
            # Issued at 20:00 UTC on 30 April: 1 May in Beijing.
            _entry("issued", "permit.issue", "2026-04-30 20:00:00"),
            _entry("issued", "permit.renew", "2030-09-01 02:00:00"),
            _permit("imported", "2029-02-28"),
            _entry("imported", "permit.renew", "2028-12-01 02:00:00"),
        ):
            await c.execute(sa.text(stmt))
    await engine.dispose()
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    engine = create_async_engine(db_url)
    async with engine.connect() as c:
        rows = await c.execute(sa.text("SELECT id, in_force_from FROM permits ORDER BY id"))
        first = {pid: day if day is None else str(day)[:10] for pid, day in rows.all()}
    await engine.dispose()
    assert first == {
        "applied": None,
        "imported": str(dt.date(2024, 2, 28)),
        "issued": "2026-05-01",
        "plain": "2026-05-01",
    }
