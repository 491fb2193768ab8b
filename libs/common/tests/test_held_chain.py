"""The inbox consumer's connection kept between messages (HeldChain), on a
real PostgreSQL: each commit begins the next message's transaction; an
idle chain, a failed message, a broken connection and a stopping service
each give the connection up, and no message is lost or applied twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import String, Table, bindparam, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from svc_common import testing
from svc_common.db import CommonBase, Database, DriverConnection, DriverStatement
from svc_common.events.registry import EventPayload, event
from svc_common.held_chain import HeldChain
from svc_common.inbox import EventHandlers, InboxConsumer
from svc_common.outbox import build_envelope
from svc_common.service import ServiceSpec, create_app
from svc_common.settings import ServiceSettings
from svc_common.transports.local import LocalTransport

pytestmark = pytest.mark.pg

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"
TOPIC = f"kept-{uuid.uuid4().hex[:8]}.events"


@event("test.tick_made.v1", topic=TOPIC, key="board")
class TickMade(EventPayload):
    """A tick on a board (test event): a negative one fails its handler after
    writing; an `orm` one reaches for the session after writing."""

    board: str
    n: int
    orm: bool = False


class TicksBase(DeclarativeBase):
    pass


class Tick(TicksBase):
    __tablename__ = "ticks"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    board: Mapped[str] = mapped_column(String(64))
    n: Mapped[int]


_TICKS = cast(Table, Tick.__table__)
_INSERT_TICK = DriverStatement(
    insert(_TICKS).values(board=bindparam("board"), n=bindparam("n")).returning(_TICKS.c.id)
)


class Ticker:
    """The handler, recording when each call's transaction began."""

    def __init__(self) -> None:
        self.begun: dict[int, dt.datetime] = {}

    def handlers(self) -> EventHandlers:
        handlers = EventHandlers()

        @handlers.on(TickMade, on_driver=True)
        async def tick(s: Any, p: TickMade, env: Any) -> None:
            conn = await s.connection()
            if isinstance(conn, DriverConnection):
                self.begun[p.n] = await conn.driver.fetchval("SELECT transaction_timestamp()")
            await _INSERT_TICK.fetch_in(conn, {"board": p.board, "n": p.n})
            if p.n < 0:
                raise ValueError("a tick below zero")
            if p.orm:
                s.add(Tick(board=p.board, n=-p.n))

        return handlers


async def _open(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(CommonBase.metadata.create_all)
        await conn.run_sync(TicksBase.metadata.create_all)
    return db


@dataclass
class Setting:
    db: Database
    ticker: Ticker
    consumer: InboxConsumer
    board: str


@asynccontextmanager
async def _consuming(url: str, idle: float = 5.0) -> AsyncIterator[Setting]:
    """A fresh database and a consumer keeping its connection `idle` seconds."""
    db = await _open(url)
    ticker = Ticker()
    consumer = InboxConsumer(
        db,
        LocalTransport(),
        ticker.handlers(),
        group="ticks",
        max_attempts=1,
        chain_idle_seconds=idle,
    )
    try:
        yield Setting(db, ticker, consumer, uuid.uuid4().hex[:6])
    finally:
        await consumer.close()
        await db.dispose()


def _msg(board: str, n: int, *, orm: bool = False) -> Any:
    return build_envelope(TickMade(board=board, n=n, orm=orm)).to_message(TOPIC)


async def _ticks(db: Database, board: str) -> list[int]:
    async with db.session() as s:
        q = select(Tick.n).where(Tick.board == board).order_by(Tick.id)
        return list((await s.execute(q)).scalars())


def _checked_out(db: Database) -> int:
    return db.connections_in_use()


_IDLE_IN_TRANSACTION = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND state = 'idle in transaction'"
)


async def _idle_in_transaction(db: Database) -> list[int]:
    """Backends of this database idle in a transaction (the kept chain's)."""
    async with db.session() as s:
        rows = await s.execute(text(_IDLE_IN_TRANSACTION))
        return [int(pid) for pid in rows.scalars()]


async def test_each_commit_begins_the_next_message_transaction(pg_url: str) -> None:
    async with _consuming(pg_url) as t:
        await t.consumer.process(_msg(t.board, 1))
        # Between messages: one connection kept, its next transaction begun.
        assert len(await _idle_in_transaction(t.db)) == 1
        assert _checked_out(t.db) == 1
        await asyncio.sleep(0.2)
        before = dt.datetime.now(dt.UTC)
        await t.consumer.process(_msg(t.board, 2))
        await t.consumer.process(_msg(t.board, 3))
        # The second message's transaction began with the first's commit,
        # before the second was handed over.
        assert t.ticker.begun[2] < before
        assert t.ticker.begun[3] > t.ticker.begun[2]
        assert await _ticks(t.db, t.board) == [1, 2, 3]


async def test_an_idle_chain_gives_its_connection_back(pg_url: str) -> None:
    # Idle 1 s rather than 0.3 s, and watched from a connection opened
    # beforehand (the chain holds the pool's only one): long enough to see
    # the chain kept on a loaded machine, short enough to wait for its end.
    async with _consuming(pg_url, idle=1.0) as t:
        watcher = Database(pg_url, poolclass=NullPool)
        try:
            async with watcher.driver() as watch:
                await t.consumer.process(_msg(t.board, 1))
                kept = await watch.fetch(_IDLE_IN_TRANSACTION)
        finally:
            await watcher.dispose()
        assert len(kept) == 1
        # Rolled back and given back in the background once idle: waited for.
        await testing.until(lambda: _checked_out(t.db) == 0)
        assert await _idle_in_transaction(t.db) == []
        assert _checked_out(t.db) == 0
        # The next message begins afresh, and is applied.
        before = dt.datetime.now(dt.UTC)
        await t.consumer.process(_msg(t.board, 2))
        assert t.ticker.begun[2] > before
        assert await _ticks(t.db, t.board) == [1, 2]


async def test_a_failed_message_leaves_nothing_and_ends_the_chain(pg_url: str) -> None:
    async with _consuming(pg_url) as t:
        await t.consumer.process(_msg(t.board, 1))
        await t.consumer.process(_msg(t.board, -1))  # written, then raised: dead-lettered
        assert await _idle_in_transaction(t.db) == []
        # Given back once the failed chain's rollback is done (on a loaded
        # machine that may be a moment after the message's end): never kept.
        assert await testing.until(lambda: _checked_out(t.db) == 0), _checked_out(t.db)
        # Reaching for the session: undone on the driver, run again in a session.
        await t.consumer.process(_msg(t.board, 2, orm=True))
        third = _msg(t.board, 3)
        await t.consumer.process(third)
        await t.consumer.process(third)  # redelivered: applied once
        assert await _ticks(t.db, t.board) == [1, 2, -2, 3]
        # A new chain, on a connection checked out for it (not the one given back).
        assert _checked_out(t.db) == 1
        assert len(await _idle_in_transaction(t.db)) == 1


async def test_a_kept_connection_the_server_closed_is_replaced_before_the_next_message(
    pg_url: str,
) -> None:
    async with _consuming(pg_url) as t:
        await t.consumer.process(_msg(t.board, 1))
        [pid] = await _idle_in_transaction(t.db)
        admin = await asyncpg.connect(testing.pg_admin_url())
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # Until the client has seen the server close it (not a fixed pause).
        held = t.consumer._units._held
        assert held is not None
        chain = held[1]
        await testing.until(lambda: chain.closed)
        # Thrown away before the next message, which begins on a new one.
        await t.consumer.process(_msg(t.board, 2))
        assert await _ticks(t.db, t.board) == [1, 2]
        assert len(await _idle_in_transaction(t.db)) == 1


async def test_closing_gives_the_connection_back_and_keeps_none_after(pg_url: str) -> None:
    async with _consuming(pg_url) as t:
        await t.consumer.process(_msg(t.board, 1))
        await t.consumer.close()
        assert await _idle_in_transaction(t.db) == []
        assert _checked_out(t.db) == 0
        await t.consumer.process(_msg(t.board, 2))
        assert _checked_out(t.db) == 0
        assert await _ticks(t.db, t.board) == [1, 2]


async def test_messages_at_once_each_get_a_transaction(pg_url: str) -> None:
    async with _consuming(pg_url) as t:
        await asyncio.gather(*(t.consumer.process(_msg(t.board, n)) for n in range(1, 6)))
        assert sorted(await _ticks(t.db, t.board)) == [1, 2, 3, 4, 5]


async def test_a_service_keeps_its_consumer_connection_and_gives_it_back_on_stopping(
    pg_url: str,
) -> None:
    ticker = Ticker()
    spec = ServiceSpec(
        name="ticks-svc",
        prefix="/ticks",
        title="ticks",
        description="ticks",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[],
        handlers=ticker.handlers(),
    )
    settings = ServiceSettings(database_url=pg_url, log_json=False, consumer_chain_idle_seconds=30)
    app = create_app(spec, settings, transport=LocalTransport())
    board = uuid.uuid4().hex[:6]
    async with testing.running(app):
        db: Database = app.state.runtime.db
        async with db.engine.begin() as conn:
            await conn.run_sync(TicksBase.metadata.create_all)
        await testing.deliver(app, TickMade(board=board, n=1))
        await testing.deliver(app, TickMade(board=board, n=2))
        assert await _ticks(db, board) == [1, 2]
        assert len(await _idle_in_transaction(db)) == 1
    # Stopped: nothing kept (the database outlives the service here).
    after = await _open(pg_url)
    try:
        assert await _idle_in_transaction(after) == []
    finally:
        await after.dispose()


async def test_a_chain_goes_back_to_the_pool_after_its_last_transaction(pg_url: str) -> None:
    db = await _open(pg_url)
    chain = HeldChain(db, idle_seconds=5, max_transactions=2)
    try:
        begun: list[dt.datetime] = []
        for _ in range(3):
            before = dt.datetime.now(dt.UTC)
            async with chain.unit() as unit:
                conn = await unit.connection()
                begun.append(await conn.driver.fetchval("SELECT transaction_timestamp()"))
            if len(begun) == 1:
                assert begun[0] > before  # the first begins on its own
            if len(begun) == 2:
                assert begun[1] < before  # begun by the first's commit
                # The chain's last: nothing kept.
                assert await _idle_in_transaction(db) == []
                assert _checked_out(db) == 0
            await asyncio.sleep(0.05)
        assert begun[2] > begun[1] + dt.timedelta(milliseconds=40)  # a new chain
        assert _checked_out(db) == 1
    finally:
        await chain.close()
        await db.dispose()


async def test_a_unit_running_when_closing_gives_the_connection_back_itself(
    pg_url: str,
) -> None:
    db = await _open(pg_url)
    chain = HeldChain(db, idle_seconds=5)
    go_on = asyncio.Event()
    inside = asyncio.Event()

    async def slow_unit() -> None:
        async with chain.unit():
            inside.set()
            await go_on.wait()

    try:
        async with chain.unit():
            pass
        running = asyncio.create_task(slow_unit())
        await inside.wait()
        await chain.close()
        go_on.set()
        await running
        assert _checked_out(db) == 0
        assert await _idle_in_transaction(db) == []
    finally:
        await db.dispose()
