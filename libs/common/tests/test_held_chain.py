"""The inbox consumer's connection kept between messages (HeldChain), on a
real PostgreSQL: each commit begins the next message's transaction; an
idle chain, a failed message, a broken connection and a stopping service
each give the connection up, and no message is lost or applied twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import String, Table, bindparam, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from svc_common import testing
from svc_common.db import CommonBase, Database, DriverConnection, DriverStatement
from svc_common.events.registry import EventPayload, event
from svc_common.failures import TransientFailure
from svc_common.inbox import EventHandlers, InboxConsumer
from svc_common.outbox import build_envelope
from svc_common.transports.local import LocalTransport

pytestmark = pytest.mark.pg

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


def _consumer(db: Database, ticker: Ticker, idle: float = 5.0) -> InboxConsumer:
    return InboxConsumer(
        db,
        LocalTransport(),
        ticker.handlers(),
        group="ticks",
        max_attempts=1,
        chain_idle_seconds=idle,
    )


def _msg(board: str, n: int, *, orm: bool = False) -> Any:
    return build_envelope(TickMade(board=board, n=n, orm=orm)).to_message(TOPIC)


async def _ticks(db: Database, board: str) -> list[int]:
    async with db.session() as s:
        q = select(Tick.n).where(Tick.board == board).order_by(Tick.id)
        return list((await s.execute(q)).scalars())


async def _idle_in_transaction(db: Database) -> list[int]:
    """Backends of this database idle in a transaction (the kept chain's)."""
    async with db.session() as s:
        rows = await s.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'idle in transaction'"
            )
        )
        return [int(pid) for pid in rows.scalars()]


async def test_each_commit_begins_the_next_message_transaction(pg_url: str) -> None:
    db = await _open(pg_url)
    ticker = Ticker()
    consumer = _consumer(db, ticker)
    board = uuid.uuid4().hex[:6]
    try:
        await consumer.process(_msg(board, 1))
        # Between messages: one connection kept, its next transaction begun.
        assert len(await _idle_in_transaction(db)) == 1
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        before = dt.datetime.now(dt.UTC)
        await consumer.process(_msg(board, 2))
        await consumer.process(_msg(board, 3))
        # The second message's transaction began with the first's commit,
        # before the second was handed over.
        assert ticker.begun[2] < before
        assert ticker.begun[3] > ticker.begun[2]
        assert await _ticks(db, board) == [1, 2, 3]
    finally:
        await consumer.close()
        await db.dispose()


async def test_an_idle_chain_gives_its_connection_back(pg_url: str) -> None:
    db = await _open(pg_url)
    ticker = Ticker()
    consumer = _consumer(db, ticker, idle=0.3)
    board = uuid.uuid4().hex[:6]
    try:
        await consumer.process(_msg(board, 1))
        assert len(await _idle_in_transaction(db)) == 1
        await asyncio.sleep(1.0)
        assert await _idle_in_transaction(db) == []
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # The next message begins afresh, and is applied.
        before = dt.datetime.now(dt.UTC)
        await consumer.process(_msg(board, 2))
        assert ticker.begun[2] > before
        assert await _ticks(db, board) == [1, 2]
    finally:
        await consumer.close()
        await db.dispose()


async def test_a_failed_message_leaves_nothing_and_ends_the_chain(pg_url: str) -> None:
    db = await _open(pg_url)
    ticker = Ticker()
    consumer = _consumer(db, ticker)
    board = uuid.uuid4().hex[:6]
    try:
        await consumer.process(_msg(board, 1))
        await consumer.process(_msg(board, -1))  # written, then raised: dead-lettered
        assert await _idle_in_transaction(db) == []
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # Reaching for the session: undone on the driver, run again in a session.
        await consumer.process(_msg(board, 2, orm=True))
        third = _msg(board, 3)
        await consumer.process(third)
        await consumer.process(third)  # redelivered: applied once
        assert await _ticks(db, board) == [1, 2, -2, 3]
    finally:
        await consumer.close()
        await db.dispose()


async def test_a_kept_connection_killed_while_idle_fails_once_then_applies(
    pg_url: str,
) -> None:
    db = await _open(pg_url)
    ticker = Ticker()
    consumer = _consumer(db, ticker)
    board = uuid.uuid4().hex[:6]
    try:
        await consumer.process(_msg(board, 1))
        [pid] = await _idle_in_transaction(db)
        admin = await asyncpg.connect(testing.pg_admin_url())
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        second = _msg(board, 2)
        # The transport retries a transient failure, in order.
        with pytest.raises(TransientFailure):
            await consumer.process(second)
        await consumer.process(second)
        assert await _ticks(db, board) == [1, 2]
    finally:
        await consumer.close()
        await db.dispose()


async def test_closing_gives_the_connection_back_and_keeps_none_after(pg_url: str) -> None:
    db = await _open(pg_url)
    ticker = Ticker()
    consumer = _consumer(db, ticker)
    board = uuid.uuid4().hex[:6]
    try:
        await consumer.process(_msg(board, 1))
        await consumer.close()
        assert await _idle_in_transaction(db) == []
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        await consumer.process(_msg(board, 2))
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await _ticks(db, board) == [1, 2]
    finally:
        await db.dispose()


async def test_messages_at_once_each_get_a_transaction(pg_url: str) -> None:
    db = await _open(pg_url)
    ticker = Ticker()
    consumer = _consumer(db, ticker)
    board = uuid.uuid4().hex[:6]
    try:
        await asyncio.gather(*(consumer.process(_msg(board, n)) for n in range(1, 6)))
        assert sorted(await _ticks(db, board)) == [1, 2, 3, 4, 5]
    finally:
        await consumer.close()
        await db.dispose()
