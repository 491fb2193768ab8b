"""A write waits for the database one bound (`Database.answer_within`: the
longer of DB_CONNECT_TIMEOUT_SECONDS and DB_LOCK_TIMEOUT_SECONDS), not one
for the work ahead of it and then another for its own.

A write's Idempotency-Key lookup:
Lookups asked for while one runs go together in the next statement
(`LookupsTogether`). With the database not answering — here its one pooled
connection held elsewhere, as every connection is by statements caught in a
freeze — the running lookup waited its bound, then the queued one waited a
bound of its own for a connection and its statement: a write's 503 came
after 18-25 s where 15 s was documented."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from svc_common import testing
from svc_common.batching import GroupCommit, LookupsTogether
from svc_common.db import Database, DriverStatement
from svc_common.failures import is_transient

pytestmark = pytest.mark.pg

#: DB_CONNECT_TIMEOUT_SECONDS and DB_LOCK_TIMEOUT_SECONDS here: `answer_within`.
BOUND = 1.0

ONE = DriverStatement(text("SELECT CAST(:k AS text) AS k"))
MANY = DriverStatement(text("SELECT k FROM unnest(CAST(:ks AS text[])) AS k"))


async def test_a_lookup_queued_behind_another_waits_one_bound_not_two(tmp_path: Path) -> None:
    async with testing.database_url("pg", tmp_path) as url:
        db = Database(
            url,
            pool_size=1,
            max_overflow=0,
            connect_timeout_seconds=BOUND,
            lock_timeout_seconds=BOUND,
        )
        try:
            lookups = LookupsTogether(db, ONE, MANY, ("k",))
            assert db.answer_within == BOUND
            assert await lookups.get(("free",)) is not None  # the pool answers
            async with db.driver():  # its one connection, held: no lookup gets one
                running = asyncio.create_task(lookups.get(("a",)))
                await asyncio.sleep(0.05)  # sent: waiting for the pool
                queued = asyncio.create_task(lookups.get(("b",)))
                results = await asyncio.gather(running, queued, return_exceptions=True)
            for failed in results:
                assert isinstance(failed, Exception) and is_transient(failed), repr(failed)
            # The queued lookup gave up at its own bound, while its turn's
            # wait for a connection (a bound more) had only begun. Before,
            # it waited that out: the pool's timeout, after the first's.
            assert not isinstance(results[1], sa_exc.TimeoutError), repr(results[1])
            assert isinstance(results[1], TimeoutError), repr(results[1])
            assert f"did not answer within {BOUND} s" in str(results[1])
            # The connection back, lookups are answered again.
            assert await lookups.get(("again",)) is not None
        finally:
            await db.dispose()


async def test_a_write_queued_behind_a_stuck_batch_gives_up_before_its_turn(
    tmp_path: Path,
) -> None:
    """A group commit's operations queue behind the batch running (a quota
    pool's reservations). A batch caught by a server that stopped answering
    waits for the statements' own timeout (300 s), and every write queued
    behind it waited with it. Now a queued write gives up at the bound,
    before its turn: answered 503, nothing of it run. (Here the batch ahead
    sleeps three bounds.)"""
    async with testing.database_url("pg", tmp_path) as url:
        db = Database(url, connect_timeout_seconds=BOUND, lock_timeout_seconds=BOUND)
        try:
            batches = GroupCommit(db)
            ran: list[str] = []
            begun = asyncio.Event()

            async def stuck(s: Any) -> str:
                ran.append("stuck")
                begun.set()
                await s.execute(text(f"SELECT pg_sleep({3 * BOUND})"))
                return "stuck"

            async def behind(s: Any) -> str:
                ran.append("behind")
                return "behind"

            ahead = asyncio.create_task(batches.run("pool-1", stuck))
            await begun.wait()  # its batch has begun
            with pytest.raises(TimeoutError) as gave_up:
                await batches.run("pool-1", behind)
            assert is_transient(gave_up.value)
            assert f"did not answer within {BOUND} s" in str(gave_up.value)
            assert await ahead == "stuck"
            assert ran == ["stuck"]  # the write that gave up never ran
            # The next write of the pool runs as ever.
            assert await batches.run("pool-1", behind) == "behind"
        finally:
            await db.dispose()
