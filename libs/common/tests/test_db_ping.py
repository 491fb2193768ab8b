"""A pooled PostgreSQL connection is pinged before use only after sitting idle;
a dead one is then replaced without the caller noticing, and one that died
while in steady use fails once as a transient error, after which the pool
recovers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool
from svc_common.db import Database
from svc_common.failures import is_transient


def _count_pings(db: Database) -> list[int]:
    pings = [0]
    ping = db.engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings[0] += 1
        return ping(dbapi_conn)

    db.engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


async def _backend_pid(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(admin: Database, pid: int) -> None:
    async with admin.session() as s:
        await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await asyncio.sleep(0.05)


@pytest.mark.pg
async def test_connections_in_steady_use_are_not_pinged(pg_url: str) -> None:
    db = Database(pg_url, pool_size=1, max_overflow=0)
    pings = _count_pings(db)
    try:
        for _ in range(20):
            await _backend_pid(db)
        assert pings[0] == 0
    finally:
        await db.engine.dispose()


@pytest.mark.pg
async def test_an_idle_dead_connection_is_replaced_before_use(pg_url: str) -> None:
    db = Database(pg_url, pool_size=1, max_overflow=0, ping_idle_seconds=0.2)
    admin = Database(pg_url, poolclass=NullPool)
    pings = _count_pings(db)
    try:
        first = await _backend_pid(db)
        await _terminate(admin, first)
        await asyncio.sleep(0.3)  # idle past the threshold: pinged, found dead
        second = await _backend_pid(db)
        assert pings[0] == 1
        assert second != first
    finally:
        await db.engine.dispose()
        await admin.engine.dispose()


@pytest.mark.pg
async def test_a_connection_that_died_in_use_fails_once_then_the_pool_recovers(
    pg_url: str,
) -> None:
    db = Database(pg_url, pool_size=2, max_overflow=0, ping_idle_seconds=60)
    admin = Database(pg_url, poolclass=NullPool)
    invalidated: list[bool] = []
    event.listen(db.engine.sync_engine, "invalidate", lambda *_: invalidated.append(True))
    try:
        first = await _backend_pid(db)
        await _terminate(admin, first)
        with pytest.raises(Exception) as failed:
            await _backend_pid(db)
        assert is_transient(failed.value)
        assert invalidated
        assert await _backend_pid(db) != first
    finally:
        await db.engine.dispose()
        await admin.engine.dispose()
