"""Migration 0007, on SQLite and PostgreSQL: a park registered with 0 t of
VOCs before its registration made a pool (the handler then only announced
`quota.subpool_funded` and made none) gets its empty sub-pool, so the
transfer that funds it is no longer refused as naming an unregistered park.
A pool already there is left as it is, and running it again changes
nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command
from quota_svc.app import create
from quota_svc.settings import Settings
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common import testing
from svc_common.events.schemas.quota import QuotaSubpoolFunded
from svc_common.migrate import alembic_config, upgrade
from svc_common.outbox import outbox_rows
from svc_common.tables import OutboxRow
from svc_common.types import UTCDateTime

from .conftest import ADMIN, Quota
from .test_park_register import BINHAI, pool_ids

MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/quota_svc/migrations"
REGISTERED_AT = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)


def funded(park_id: str, tonnes: str, district: str = BINHAI) -> dict[str, Any]:
    """The outbox row the park's registration wrote, as sent by the relay."""
    pool_id = f"{district}:VOCs:park:{park_id}"
    (row,) = outbox_rows(
        [
            QuotaSubpoolFunded(
                park_id=park_id,
                pool_id=pool_id,
                source_pool_id=f"{district}:VOCs",
                district=district,
                pollutant="VOCs",
                amount_t=Decimal(tonnes),
            )
        ]
    )
    return {**row, "created_at": REGISTERED_AT, "sent_at": REGISTERED_AT}


_POOLS = sa.table(
    "pools",
    sa.column("id"),
    sa.column("district"),
    sa.column("pollutant"),
    sa.column("kind"),
    sa.column("park_id"),
    sa.column("credited_kg"),
    sa.column("reserved_kg"),
    sa.column("allocated_kg"),
    sa.column("created_at", UTCDateTime),
    sa.column("last_effective_at", UTCDateTime),
)


async def pools(db_url: str) -> dict[str, tuple[Any, ...]]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            rows = await c.execute(sa.select(_POOLS).order_by(_POOLS.c.id))
            found = {r.id: tuple(r)[1:] for r in rows}
            entries = await c.scalar(sa.text("SELECT COUNT(*) FROM journal_entries"))
            assert entries == 0  # an empty pool needs no entry, as the live path writes none
            return found
    finally:
        await engine.dispose()


async def test_a_zero_tonne_park_gets_its_empty_pool(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "0006")
    engine = create_async_engine(db_url)
    async with engine.begin() as c:
        # 滨海新区's nangang, funded with 2 t, has its pool (made empty here:
        # the migration must not touch it); lingang, 0 t, got none.
        await c.execute(
            sa.insert(_POOLS).values(
                id=f"{BINHAI}:VOCs:park:nangang",
                district=BINHAI,
                pollutant="VOCs",
                kind="park",
                park_id="nangang",
                credited_kg=0,
                reserved_kg=0,
                allocated_kg=0,
                created_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
            )
        )
        outbox = OutboxRow.__table__
        await c.execute(sa.insert(outbox), [funded("nangang", "2"), funded("lingang", "0")])
        # Not a pool the ledger builds (its id names another park): left alone.
        odd = funded("other", "0")
        odd["envelope"] = {**odd["envelope"], "data": {**odd["envelope"]["data"], "park_id": "x"}}
        await c.execute(sa.insert(outbox), [odd])
    await engine.dispose()
    before = await pools(db_url)
    assert set(before) == {f"{BINHAI}:VOCs:park:nangang"}

    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    after = await pools(db_url)
    assert set(after) == {f"{BINHAI}:VOCs:park:nangang", f"{BINHAI}:VOCs:park:lingang"}
    assert after[f"{BINHAI}:VOCs:park:nangang"] == before[f"{BINHAI}:VOCs:park:nangang"]
    district, pollutant, kind, park_id, *amounts, created_at, last = after[
        f"{BINHAI}:VOCs:park:lingang"
    ]
    assert (district, pollutant, kind, park_id, amounts, created_at, last) == (
        BINHAI,
        "VOCs",
        "park",
        "lingang",
        [0, 0, 0],
        REGISTERED_AT,  # when the registration was applied
        None,
    )

    # Again (down to 0006, which keeps the pools, and up): nothing changes.
    await asyncio.to_thread(_downgrade, db_url, "0006")
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "head")
    assert await pools(db_url) == after

    # The park can now be funded, as one registered after the fix.
    app = create(Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        q = Quota(app, client)
        assert f"{BINHAI}:VOCs:park:lingang" in await pool_ids(q, BINHAI, "VOCs")
        await q.baseline(BINHAI, "10")
        r = await client.post(
            f"/quota/pools/{BINHAI}/VOCs/transfers",
            json={"source": "district", "target": "park:lingang", "amount_t": "1.5"},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"/quota/pools/{BINHAI}/VOCs/transfers",
            json={"source": "district", "target": "park:x", "amount_t": "1"},
            headers=ADMIN,
        )
        assert r.status_code == 422, r.text


def _downgrade(db_url: str, revision: str) -> None:
    command.downgrade(alembic_config(MIGRATIONS, db_url), revision)
