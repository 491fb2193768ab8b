"""Migration 0009, on SQLite and PostgreSQL: a closed plant's candidate made
before the ledger kept ceilings (migration 0006) gets the ceiling row its
cancellation writes today (0 kg, what the permit's events freed), so the
ledger's export imports again: an import refuses a `permit_cancelled`
candidate without its permit's ceiling. A row already there is left as it
is, and running it again changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
from typing import Any, cast

import sqlalchemy as sa
from quota_svc.app import create
from quota_svc.reclaims.models import PermitBacking, Reclaim
from quota_svc.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing
from svc_common.migrate import upgrade

from .conftest import ADMIN, JIZHOU, Quota
from .test_export_backing import export, fresh
from .test_zero_park_pools_migration import MIGRATIONS, _downgrade

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
RECLAIMS = cast(sa.Table, Reclaim.__table__)
BACKING = cast(sa.Table, PermitBacking.__table__)


def candidate(
    rid: str, permit: str | None, source: str, kg: int, at: dt.datetime
) -> dict[str, Any]:
    return {
        "id": rid,
        "district": JIZHOU,
        "pollutant": "VOCs",
        "pool_id": f"{JIZHOU}:VOCs",
        "amount_kg": kg,
        "source": source,
        "status": "pending",
        "permit_id": permit,
        "source_event_id": f"ev-{rid}" if permit else None,
        "created_by": "system",
        "created_at": at,
    }


async def ceilings(db_url: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            rows = await c.execute(sa.select(BACKING).order_by(BACKING.c.permit_id))
            return [tuple(r) for r in rows]
    finally:
        await engine.dispose()


async def test_a_closed_plants_old_candidate_gets_its_ceiling_and_restores(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0008")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        await c.execute(
            sa.insert(RECLAIMS),
            [
                # PM-OLD: cut, then closed, before 0006: no row.
                candidate("r1", "PM-OLD", "permit_changed", 500, T0),
                candidate("r2", "PM-OLD", "permit_cancelled", 1000, T1),
                # PM-CHG: only cut (its VOCs delta alone): none is made.
                candidate("r3", "PM-CHG", "permit_changed", 200, T1),
                candidate("r4", None, "manual", 300, T1),
                # PM-KEPT: closed since 0006, its row kept then.
                candidate("r5", "PM-KEPT", "permit_cancelled", 700, T1),
            ],
        )
        await c.execute(
            sa.insert(BACKING).values(
                permit_id="PM-KEPT",
                pollutant="VOCs",
                district=JIZHOU,
                amount_kg=0,
                backed_kg=0,
                freed_kg=700,
                last_event_id="ev-r5",
                updated_at=T1,
            )
        )
    await engine.dispose()
    before = await ceilings(db_url)

    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    after = await ceilings(db_url)
    assert after == [
        before[0],
        ("PM-OLD", "VOCs", JIZHOU, 0, 0, 1500, "ev-r2", T1),
    ]
    # Again (down to 0008, which keeps the rows, and up): nothing changes.
    await asyncio.to_thread(_downgrade, db_url, "0008")
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    assert await ceilings(db_url) == after

    # The ledger's export now imports into an empty one.
    app = create(Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        content = await export(Quota(app, client), "csv")
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert (r.json()["reclaims"], r.json()["permit_backing"]) == (5, 2)
