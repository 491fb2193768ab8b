"""Spare chains (held_chain.SpareChains) on a real PostgreSQL: a group
commit's batch of a quiet key leaves its next transaction begun for the
next batch of any key; a spare nobody takes is rolled back and given back;
a failed batch, a closed connection, a full set of spares, a long chain and
a stopping service each leave nothing begun and nothing held."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy import String, Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from svc_common import testing
from svc_common.batching import GroupCommit
from svc_common.db import Database, DriverStatement
from svc_common.failures import TransientFailure
from svc_common.held_chain import spare_chains

from .test_metrics import app_named

pytestmark = pytest.mark.pg


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32))


_NOTES = cast(Table, Note.__table__)
_ADD = DriverStatement(
    insert(_NOTES).values(id=bindparam("id"), key=bindparam("key")).returning(_NOTES.c.id)
)


class Refused(Exception):
    pass


async def _db(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return db


class Seen:
    """What each operation's connection was sent from the operation on, and
    which server process it was."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.pids: list[int] = []
        self._logged: set[int] = set()

    def op(self, i: int, key: str, fail: type[Exception] | None = None):  # type: ignore[no-untyped-def]
        async def op(s: AsyncSession) -> int:
            driver = (await s.connection()).driver  # type: ignore[attr-defined]
            self.pids.append(driver.get_server_pid())
            if id(driver) not in self._logged:
                self._logged.add(id(driver))
                driver.add_query_logger(lambda q: self.sent.append(q.query))
            await _ADD.fetch_in(await s.connection(), {"id": i, "key": key})
            if fail is not None:
                raise fail(f"operation {i}")
            return i

        return op


async def _setup(url: str, *, linger: float = 5.0) -> tuple[Database, GroupCommit, Any, Seen]:
    """A database with the test's table, a group commit on the driver, its
    spare chains (waiting `linger`, ample on a loaded machine) and a Seen."""
    db = await _db(url)
    spares = spare_chains(db)
    spares.linger = linger
    return db, GroupCommit(db, max_batch=8, on_driver=True), spares, Seen()


async def _count(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Note)) or 0)


async def test_a_quiet_key_s_batch_leaves_its_next_transaction_begun_for_another_key(
    pg_url: str,
) -> None:
    db, batches, spares, seen = await _setup(pg_url)
    assert await batches.run("a", seen.op(1, "a")) == 1
    assert not batches._workers  # a quiet key: its worker did not wait
    assert spares.parked == 1 and len(spares._kept) == 1
    # The spare's transaction is begun, unused, its connection checked out.
    [(_stack, chain, _timer, _pool)] = spares._kept
    assert chain.begun
    assert await _count(db) == 1  # committed, seen from another connection
    assert await batches.run("b", seen.op(2, "b")) == 2
    assert spares.taken == 1
    assert seen.pids[0] == seen.pids[1]  # the second key's batch on the spare
    await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
    # No BEGIN went alone: each commit began the next transaction.
    assert [q for q in seen.sent if "BEGIN" in q] == ["COMMIT; BEGIN"] * 2, seen.sent
    assert await _count(db) == 2
    await db.dispose()


async def test_a_spare_nobody_takes_is_rolled_back_and_given_back(pg_url: str) -> None:
    # Lingering 1 s rather than 50 ms, and watched from a connection opened
    # beforehand: long enough to see the spare on a loaded machine, short
    # enough to wait for its end.
    db, batches, spares, seen = await _setup(pg_url, linger=1.0)
    watcher = Database(pg_url, poolclass=NullPool)
    async with watcher.driver() as watch:
        await batches.run("a", seen.op(1, "a"))
        spare_pid = seen.pids[0]
        state = await watch.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", spare_pid)
    await watcher.dispose()
    assert state == "idle in transaction"
    assert await testing.until(lambda: not spares._kept and not spares._releasing, seconds=15)
    assert "ROLLBACK" in seen.sent, seen.sent
    assert db.connections_in_use() == 0
    states = {state for state, _pid in await testing.other_sessions(pg_url)}
    assert "idle in transaction" not in states, states
    assert await _count(db) == 1
    await db.dispose()


async def test_no_more_spares_than_its_size_are_kept(pg_url: str) -> None:
    """Batches of quiet keys ending together: `size` parked, the others
    rolled back and given back at once."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=8, on_driver=True)
    spares = spare_chains(db)
    spares.size, spares.linger = 2, 5.0
    gate = asyncio.Event()
    seen = Seen()

    def gated(i: int):  # type: ignore[no-untyped-def]
        async def op(s: AsyncSession) -> int:
            await gate.wait()
            return await seen.op(i, f"k{i}")(s)

        return op

    calls = [asyncio.ensure_future(batches.run(f"k{i}", gated(i))) for i in range(1, 6)]
    await asyncio.sleep(0.05)
    gate.set()
    assert await asyncio.gather(*calls) == [1, 2, 3, 4, 5]
    assert await testing.until(lambda: not batches._workers)
    assert len(spares._kept) == 2
    # Only those with a place began a next transaction: none begun for
    # nothing and rolled back at once.
    controls = [q for q in seen.sent if q.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    assert sorted(controls) == ["COMMIT"] * 3 + ["COMMIT; BEGIN"] * 2, seen.sent
    assert db.connections_in_use() == 2
    in_transaction = [
        s for s in await testing.other_sessions(pg_url) if s[0] == "idle in transaction"
    ]
    assert len(in_transaction) == 2, in_transaction
    await db.dispose()


async def test_a_spare_the_server_closed_is_not_used(pg_url: str) -> None:
    db, batches, spares, seen = await _setup(pg_url)
    await batches.run("a", seen.op(1, "a"))
    [(_stack, chain, _timer, _pool)] = spares._kept
    async with db.driver() as other:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", seen.pids[0])
    assert await testing.until(lambda: chain.closed)
    # The next batch is not failed by the dead spare: it runs on another.
    assert await batches.run("b", seen.op(2, "b")) == 2
    assert seen.pids[1] != seen.pids[0]
    assert spares.taken == 0
    assert await _count(db) == 2
    await db.dispose()


async def test_a_failed_or_refused_batch_parks_nothing(pg_url: str) -> None:
    """A database failure and a refusal each undo their batch; the
    connection is not kept begun for another (a spare must be unused), and
    none is left in a transaction."""
    db, batches, spares, seen = await _setup(pg_url)
    with pytest.raises(TransientFailure):
        await batches.run("a", seen.op(1, "a", TransientFailure))
    with pytest.raises(Refused):
        await batches.run("b", seen.op(2, "b", Refused))
    # (A caller is answered before its worker gives the connection back.)
    assert await testing.until(lambda: not batches._workers)
    assert spares.parked == 0 and not spares._kept
    assert db.connections_in_use() == 0
    states = {state for state, _pid in await testing.other_sessions(pg_url)}
    assert not states & {"idle in transaction", "idle in transaction (aborted)"}, states
    assert await _count(db) == 0
    assert await batches.run("c", seen.op(3, "c")) == 3  # and the next runs as ever
    assert await _count(db) == 1
    await db.dispose()


async def test_a_long_chain_is_not_parked_again(pg_url: str) -> None:
    """A spare that has reached its transactions' limit goes back to the pool
    (its recycling and checks see it) instead of being parked again, and its
    last commit does not begin a transaction nobody would use."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=8, on_driver=True)
    spares = spare_chains(db)
    spares.linger, spares.max_transactions = 5.0, 3
    seen = Seen()
    for i in range(1, 5):
        await batches.run(f"k{i}", seen.op(i, f"k{i}"))
    # 1 parked, 2 taken and parked, 3 taken and given back, 4 on a checkout.
    assert (spares.parked, spares.taken) == (3, 2)
    await asyncio.sleep(0.05)
    controls = [q for q in seen.sent if q.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    assert controls[:3] == ["COMMIT; BEGIN", "COMMIT; BEGIN", "COMMIT"], seen.sent
    assert await _count(db) == 4
    await db.dispose()


async def test_a_spare_taken_by_a_busy_key_still_goes_back_after_chain_max(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transactions a chain ran as a spare count: CHAIN_MAX in all, then
    its connection goes back to the pool."""
    from svc_common import batching

    monkeypatch.setattr(batching, "CHAIN_MAX", 4)
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=2, on_driver=True)
    spares = spare_chains(db)
    spares.linger, spares.max_transactions = 5.0, 4
    seen = Seen()
    await batches.run("a", seen.op(1, "a"))
    await batches.run("b", seen.op(2, "b"))
    [(_stack, chain, _timer, _pool)] = spares._kept
    assert chain.transactions == 2
    gate = asyncio.Event()

    async def first(s: AsyncSession) -> int:
        await gate.wait()
        return await seen.op(100, "busy")(s)

    running = asyncio.ensure_future(batches.run("busy", first))
    await asyncio.sleep(0.05)
    rest = [asyncio.ensure_future(batches.run("busy", seen.op(i, "busy"))) for i in range(3, 23)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(running, *rest)
    assert chain.transactions == 4  # two as a spare, two for the busy key
    assert chain not in [kept for _s, kept, _t, _p in spares._kept]
    assert await _count(db) == 23
    await db.dispose()


async def test_a_spare_of_a_pool_disposed_of_is_not_taken(pg_url: str) -> None:
    db, batches, spares, seen = await _setup(pg_url)
    await batches.run("a", seen.op(1, "a"))
    await db.engine.dispose()  # the pool alone, not the database's helpers
    assert await batches.run("b", seen.op(2, "b")) == 2
    assert spares.taken == 0 and seen.pids[1] != seen.pids[0]
    assert await testing.until(lambda: not spares._releasing)
    assert await testing.sessions_left(pg_url, pids=[seen.pids[0]]) == []
    await db.dispose()


async def test_disposing_of_the_database_gives_every_spare_back(pg_url: str) -> None:
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=8, on_driver=True)
    spares = spare_chains(db)
    spares.linger = 60.0  # only the dispose ends it
    seen = Seen()
    await batches.run("a", seen.op(1, "a"))
    held = list(spares._kept)  # (so that no garbage collection closes it instead)
    assert held
    await db.dispose()
    assert not spares._kept
    assert await testing.sessions_left(pg_url) == []
    assert all(chain.closed for _s, chain, _t, _p in held)
    assert spares.size == 0  # stopping: it keeps none from then on


@pytest.mark.parametrize("spares", [0, 3])
async def test_a_service_keeps_as_many_spares_as_its_setting_says(pg_url: str, spares: int) -> None:
    """DB_SPARE_TRANSACTIONS: the service's database keeps that many (0:
    none, each batch on its own checkout and BEGIN)."""
    app = app_named("notes-svc", pg_url, db_spare_transactions=spares)
    async with testing.running(app):
        db: Database = app.state.runtime.db
        assert spare_chains(db).size == spares
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        spare_chains(db).linger = 5.0
        batches = GroupCommit(db, max_batch=8, on_driver=True)
        seen = Seen()
        await asyncio.gather(*(batches.run(f"k{i}", seen.op(i, f"k{i}")) for i in range(1, 6)))
        assert await testing.until(lambda: not batches._workers)
        assert len(spare_chains(db)._kept) == min(spares, 5)
    # Stopped: every spare given back.
    assert await testing.sessions_left(pg_url) == []
