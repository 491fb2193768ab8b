"""The connection pool checks a connection only after it sat idle: a
connection PostgreSQL dropped while it was idle is replaced before a unit of
work gets it, and a connection just returned is handed out unchecked (no
extra round trips on the hot path)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from svc_common import testing
from svc_common.db import Database

pytestmark = pytest.mark.pg


async def _backend_pid(db: Database) -> int:
    async with db.transaction() as s:
        return int((await s.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pid: int) -> None:
    admin = await asyncpg.connect(testing.pg_admin_url())
    try:
        # Waits (up to a minute) until the backend is gone: a signalled
        # backend a loaded machine has not yet run would still answer.
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 60000)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.1)  # and the connection idle past the ping threshold


async def test_a_connection_dropped_while_idle_is_replaced(pg_url: str) -> None:
    db = Database(pg_url, ping_idle_seconds=0.05)
    try:
        first = await _backend_pid(db)
        await _terminate(first)
        # Idle longer than the threshold: checked, found dead, replaced.
        second = await _backend_pid(db)
        assert second != first
    finally:
        await db.dispose()


async def test_the_last_returned_connection_is_reused_unchecked(pg_url: str) -> None:
    # A threshold no test reaches: a connection dropped a moment after its
    # return is handed out as it is, and its unit of work fails (as after a
    # restart within the threshold), which discards the pool's connections.
    db = Database(pg_url, ping_idle_seconds=60)
    try:
        first = await _backend_pid(db)
        assert await _backend_pid(db) == first  # last in, first out: the same one
        await _terminate(first)
        with pytest.raises(DBAPIError) as failed:
            await _backend_pid(db)
        assert failed.value.connection_invalidated
        assert await _backend_pid(db) != first
    finally:
        await db.dispose()


async def test_a_driver_connection_that_broke_is_not_pooled_again(pg_url: str) -> None:
    """`Database.driver()` hands out asyncpg itself; a connection that broke
    under its statement is thrown away, so the next unit gets a live one
    (SQLAlchemy never saw the failure, so it would have pooled it again)."""
    from svc_common.failures import is_transient

    db = Database(pg_url, pool_size=1, max_overflow=0)
    # Through the pool: a connection kept warm between uses is checked
    # before it is used (test_warm_connections.py).
    db.warm.size = 0
    try:
        async with db.driver() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        await _terminate(pid)
        # asyncpg raises one of several classes here, depending on the moment
        with pytest.raises(Exception) as broke:
            async with db.driver() as conn:
                await conn.fetchval("SELECT 1")
        assert is_transient(broke.value)  # a write request answers 503, not 500
        async with db.driver() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await db.dispose()


async def test_a_driver_connection_the_server_ended_is_not_pooled_again(pg_url: str) -> None:
    """A connection whose server ended its session (its FATAL read, its
    socket not yet closed: asyncpg's protocol is stuck, the chaos suite met
    it during PostgreSQL's restart) is transient and thrown away; any other
    error leaves a sound connection in the pool."""
    from asyncpg.exceptions import InternalClientError
    from svc_common.failures import is_transient

    db = Database(pg_url, pool_size=1, max_overflow=0)
    stuck = InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    try:
        async with db.driver() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        with pytest.raises(ValueError):
            async with db.driver() as conn:
                raise ValueError("the caller's own error")
        async with db.driver() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # kept
        with pytest.raises(InternalClientError) as raised:
            async with db.driver() as conn:
                raise stuck
        assert is_transient(raised.value)  # 503, not 500
        assert conn.is_closed()
        async with db.driver() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await db.dispose()


async def test_a_driver_connection_left_in_a_transaction_is_not_pooled_again(pg_url: str) -> None:
    """A unit that leaves the driver inside a transaction (interrupted, say)
    must not hand its open transaction and row locks to the next unit."""
    db = Database(pg_url, pool_size=1, max_overflow=0)
    try:
        async with db.driver() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("BEGIN")
        async with db.driver() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await db.dispose()


async def test_a_driver_connection_cancelled_twice_is_still_thrown_away(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request cancelled mid-statement (its client gone, the server
    stopping) and cancelled again while its connection is being thrown away:
    the clean-up still runs to its end. Cut short, the pool would get back a
    connection whose statement was interrupted, or never get it back."""
    from svc_common import db as db_module

    real_spawn = db_module.greenlet_spawn

    async def slow_spawn(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.1)  # a clean-up that takes a while, as over a slow network
        return await real_spawn(fn, *args, **kwargs)

    db = Database(pg_url, pool_size=1, max_overflow=0)
    started = asyncio.Event()
    pids: list[int] = []

    async def request() -> None:
        async with db.driver() as conn:
            pids.append(await conn.fetchval("SELECT pg_backend_pid()"))
            started.set()
            await conn.fetchval("SELECT pg_sleep(10)")

    try:
        task = asyncio.create_task(request())
        await started.wait()
        monkeypatch.setattr(db_module, "greenlet_spawn", slow_spawn)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.03)  # now inside the clean-up
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.setattr(db_module, "greenlet_spawn", real_spawn)
        assert db.connections_in_use() == 0
        async with db.driver() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pids[0]
    finally:
        await db.dispose()
