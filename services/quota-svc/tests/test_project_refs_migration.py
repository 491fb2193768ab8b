"""Migration 0011, on SQLite and PostgreSQL: a reservation held under a
full-width ref before the API folded refs is kept under the ASCII one, so
a request for the project in either form finds it. A live reservation
whose folded ref is another live one's is left as it was (the index
allows one live hold of a project) and named in the log; case is kept;
running it again changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, cast

import pytest
import sqlalchemy as sa
from quota_svc.app import create
from quota_svc.reservations.models import Reservation
from quota_svc.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing
from svc_common.migrate import upgrade

from .conftest import JIZHOU, OFFICER, Quota
from .test_zero_park_pools_migration import MIGRATIONS, _downgrade

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
RESERVATIONS = cast(sa.Table, Reservation.__table__)


def reservation(rid: str, ref: str, status: str, minutes: int) -> dict[str, Any]:
    at = T0 + dt.timedelta(minutes=minutes)
    return {
        "id": rid,
        "idempotency_id": f"api:{rid}",
        "project_ref": ref,
        "attempt": 1,
        "district": JIZHOU,
        "pollutant": "VOCs",
        "pool_id": f"{JIZHOU}:VOCs",
        "increment_kg": 1000,
        "offset_ratio_hundredths": 200,
        "held_kg": 2000,
        "allocated_kg": 0,
        "released_kg": 2000 if status == "released" else 0,
        "status": status,
        "created_by": "officer.wang",
        "created_at": at,
        "expires_at": at + dt.timedelta(days=90),
    }


async def refs(db_url: str) -> dict[str, str]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            rows = await c.execute(sa.select(RESERVATIONS.c.id, RESERVATIONS.c.project_ref))
            return {r.id: r.project_ref for r in rows}
    finally:
        await engine.dispose()


async def test_a_project_held_in_full_width_is_found_in_ascii(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0010")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        await c.execute(
            sa.insert(RESERVATIONS),
            [
                # P-9 held in ASCII, then again in full-width: held twice.
                reservation("r1", "P-9", "held", 0),
                reservation("r2", "Ｐ-9", "held", 1),
                # P-10 held in full-width, and released earlier.
                reservation("r3", "Ｐ－１０", "held", 2),
                reservation("r4", "Ｐ－１０", "released", 0),
                # Case is kept.
                reservation("r5", "ｐ－１１", "expired", 3),
                # Two full-width forms of R-1 live: the older takes the ref.
                reservation("r6", "Ｒ－１", "allocated", 4),
                reservation("r7", "R－1", "held", 5),
                # Other compatibility forms are not ASCII forms: kept.
                reservation("r8", "项目①\u3000Ａ", "held", 6),
            ],
        )
    await engine.dispose()

    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    after = await refs(db_url)
    assert after == {
        "r1": "P-9",
        "r2": "Ｐ-9",
        "r3": "P-10",
        "r4": "P-10",
        "r5": "p-11",
        "r6": "R-1",
        "r7": "R－1",
        "r8": "项目① A",
    }
    kept = [r.getMessage() for r in caplog.records if "kept as it is" in r.getMessage()]
    assert len(kept) == 2 and "r2" in kept[0] and "r7" in kept[1], kept

    # Again (down to 0010, which changes nothing back, and up): nothing changes.
    await asyncio.to_thread(_downgrade, db_url, "0010")
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    assert await refs(db_url) == after

    # P-10, held in full-width, is found in either form.
    app = create(Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        await Quota(app, client).baseline(JIZHOU, "10")
        for ref in ("P-10", "Ｐ－１０"):
            r = await client.post(
                "/quota/reservations",
                json={"district": JIZHOU, "increment_t": "2", "project_ref": ref},
                headers=OFFICER,
            )
            assert r.status_code == 409, r.text
            assert (r.json()["reason"], r.json()["reservation_id"]) == ("project_reserved", "r3")
