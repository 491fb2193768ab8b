"""Migration 0005 (statutory deadlines at the end of their last Beijing
day) rewrites the stored deadlines once: taken down and up again, as an
operator rolling a release back and forward does, a deadline is where it
was, not a day later for each round."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import eia_svc
from alembic import command
from eia_svc.filings.models import FilingRow
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.migrate import alembic_config

MIGRATIONS = Path(eia_svc.__file__).parent / "migrations"
BEIJING = dt.timezone(dt.timedelta(hours=8))
#: Accepted on Monday 2 March 2026, 09:00 Beijing; a report form's 30 days
#: end with 1 April (a Wednesday, a working day).
ACCEPTED = dt.datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=dt.UTC)
#: Accepted on Wednesday 1 April 2026: 30 days on is 1 May, and 1 to 5 May
#: are days off (Labour Day), so the last day is Wednesday 6 May.
BEFORE_HOLIDAY = dt.datetime(2026, 4, 1, 2, 30, tzinfo=dt.UTC)


def _row(filing_id: str, accepted_at: dt.datetime, days: int) -> dict[str, object]:
    return {
        "id": filing_id,
        "project_name": "项目",
        "uscc": "91120225MA05XXXX0X",
        "enterprise_name": "企业",
        "district": "120119",
        "project_type": "C1431",
        "industry_code": "C1431",
        "category": "report_form",
        "channel": "normal",
        "major_project": False,
        "vocs_increment_kg": 1500,
        "status": "accepted",
        "evaluation_done": False,
        "review_done": False,
        "submitted_by": "filer",
        "submitted_role": "filer",
        "created_at": accepted_at,
        "accepted_at": accepted_at,
        # As the code before 0005 stored it: the instant of acceptance + the limit.
        "due_at": accepted_at + dt.timedelta(days=days),
        "quota_status": "pending",
        "quota_attempt": 1,
        "quota_asks": 0,
        "updated_at": accepted_at,
    }


async def _due(url: str) -> dict[str, dt.datetime]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(FilingRow.id, FilingRow.due_at))).all()
    finally:
        await engine.dispose()
    return {r.id: r.due_at for r in rows}


async def test_deadlines_are_rewritten_once_through_a_downgrade_and_upgrade(
    db_url: str,
) -> None:
    cfg = alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.upgrade, cfg, "0005-1")
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(FilingRow),
                [_row("f-1", ACCEPTED, 30), _row("f-2", BEFORE_HOLIDAY, 30)],
            )
    finally:
        await engine.dispose()

    await asyncio.to_thread(command.upgrade, cfg, "head")
    first = await _due(db_url)
    assert first == {
        "f-1": dt.datetime(2026, 4, 2, tzinfo=BEIJING),
        "f-2": dt.datetime(2026, 5, 7, tzinfo=BEIJING),  # 6 May, the first working day
    }

    await asyncio.to_thread(command.downgrade, cfg, "0005-1")
    # Down, the deadlines read as the code before 0005 reads them: the
    # instant of acceptance plus whole days, never earlier than the statute.
    down = await _due(db_url)
    assert down["f-1"] == ACCEPTED + dt.timedelta(days=30)
    assert down["f-2"] == BEFORE_HOLIDAY + dt.timedelta(days=35)  # to 6 May

    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _due(db_url) == first
