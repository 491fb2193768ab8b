"""A statement never waits for good: a lock another session holds too long,
or a server that stops answering, fails the statement with a transient error
(a request gets 503 with Retry-After, an event is retried), and the
database's connections serve the next unit of work as before."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from svc_common import testing
from svc_common.db import Database
from svc_common.failures import is_transient

#: Longer than any timeout below: a wait that does not end fails the test
#: instead of hanging it.
NEVER = 20


def _in_chain(exc: BaseException, found: Any) -> bool:
    """Whether `found(e)` holds for `exc` or what it was raised from
    (SQLAlchemy's wrapper, the driver's error under it)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if found(e):
            return True
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]
    return False


def _lock_timed_out(e: BaseException) -> bool:
    return getattr(e, "sqlstate", None) == "55P03"


async def _admin_of(pg_url: str) -> asyncpg.Connection:
    """A session of its own on the test's database (as psql left open)."""
    name = pg_url.rsplit("/", 1)[1]
    return await asyncpg.connect(testing.pg_admin_url().rsplit("/", 1)[0] + "/" + name)


@pytest.mark.pg
async def test_a_lock_held_too_long_fails_the_waiting_statement_as_transient(
    pg_url: str,
) -> None:
    db = Database(pg_url, lock_timeout_seconds=0.3, command_timeout_seconds=30)
    other = await _admin_of(pg_url)
    try:
        await other.execute("CREATE TABLE held (id int PRIMARY KEY, n int)")
        await other.execute("INSERT INTO held VALUES (1, 0)")
        holding = other.transaction()
        await holding.start()
        await other.execute("SELECT * FROM held WHERE id = 1 FOR UPDATE")
        lock = text("UPDATE held SET n = n + 1 WHERE id = 1")
        async with asyncio.timeout(NEVER):
            with pytest.raises(Exception) as failed:
                async with db.transaction() as s:
                    await s.execute(lock)
            assert is_transient(failed.value), repr(failed.value)
            assert _in_chain(failed.value, _lock_timed_out), repr(failed.value)
            # On the driver too (the path of a group commit's batches).
            with pytest.raises(Exception) as failed_on_driver:
                async with db.driver() as conn:
                    await conn.execute("UPDATE held SET n = n + 1 WHERE id = 1")
            assert is_transient(failed_on_driver.value), repr(failed_on_driver.value)
            assert _in_chain(failed_on_driver.value, _lock_timed_out)
        await holding.rollback()
        # Nothing of the failed statements was kept; the next one goes through.
        async with db.transaction() as s:
            await s.execute(lock)
        assert await other.fetchval("SELECT n FROM held WHERE id = 1") == 1
        async with db.driver() as conn:
            assert await conn.fetchval("SHOW lock_timeout") == "300ms"
    finally:
        await other.close()
        await db.dispose()


@pytest.mark.pg
async def test_a_statement_unanswered_too_long_is_cancelled_as_transient(pg_url: str) -> None:
    # The connection opens under a bound of its own: only the statement
    # may run out of time here.
    db = Database(pg_url, command_timeout_seconds=0.5, connect_timeout_seconds=30)
    other = await _admin_of(pg_url)
    try:
        async with asyncio.timeout(NEVER):
            with pytest.raises(Exception) as failed:
                async with db.transaction() as s:
                    await s.execute(text("SELECT pg_sleep(30)"))
            assert is_transient(failed.value), repr(failed.value)
            assert _in_chain(failed.value, lambda e: isinstance(e, TimeoutError))
            # The statement was cancelled on the server, not left running.
            running = (
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'"
            )
            for _ in range(NEVER * 20):
                if not await other.fetchval(running):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the statement was left running on the server")
        async with db.transaction() as s:
            assert (await s.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await other.close()
        await db.dispose()


async def test_readiness_finds_a_silent_server_down_without_waiting_for_it() -> None:
    """A server that accepts connections and never answers (paused, or a
    black hole on the way): `ping`, which readiness and the metrics' up
    gauge ask, says down within its bound, well before the statements' own
    timeout would end the connection attempt."""
    silent: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        silent.append(w)  # kept open, never written to

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = Database(f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none", command_timeout_seconds=60)
    try:
        async with asyncio.timeout(NEVER):
            assert await db.ping(within=0.5) is False
        assert silent, "the connection was never attempted"
    finally:
        await db.dispose()
        for w in silent:
            w.close()
        server.close()
        await server.wait_closed()
