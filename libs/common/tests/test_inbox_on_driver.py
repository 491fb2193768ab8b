"""A handler registered `on_driver=True` runs, on PostgreSQL, in a
DriverUnit (its inbox row and its statements on asyncpg itself); one that
reaches for the session is undone and runs again in a session, applied
once. On SQLite every handler runs in a session."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from svc_common.db import CommonBase, Database, DriverStatement, DriverUnit
from svc_common.events.registry import EventPayload, event
from svc_common.inbox import DUPLICATES, SESSION_FALLBACKS, EventHandlers, InboxConsumer
from svc_common.outbox import build_envelope
from svc_common.tables import InboxRow
from svc_common.transports.local import LocalTransport

TOPIC = f"driven-{uuid.uuid4().hex[:8]}.events"


@event("test.mark_made.v1", topic=TOPIC, key="board")
class MarkMade(EventPayload):
    """A mark on a board (test event); `orm` marks are written through the session."""

    board: str
    n: int
    orm: bool = False


class MarksBase(DeclarativeBase):
    pass


class Mark(MarksBase):
    __tablename__ = "marks"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    board: Mapped[str] = mapped_column(String(64))
    n: Mapped[int]


_MARKS = cast(Table, Mark.__table__)
_INSERT_MARK = DriverStatement(
    insert(_MARKS).values(board=bindparam("board"), n=bindparam("n")).returning(_MARKS.c.id)
)


class Recorder:
    """Registers the handler on the driver and records what each call was given."""

    def __init__(self) -> None:
        self.given: list[tuple[int, str]] = []

    def handlers(self) -> EventHandlers:
        handlers = EventHandlers()

        @handlers.on(MarkMade, on_driver=True)
        async def make(s: Any, p: MarkMade, env: Any) -> None:
            self.given.append((p.n, "driver" if isinstance(s, DriverUnit) else "session"))
            # Written first on whichever connection the unit has...
            await _INSERT_MARK.fetch_in(await s.connection(), {"board": p.board, "n": p.n})
            if p.orm:
                # ...then a session-only call: on the driver this undoes the
                # write above, and the handler runs again in a session.
                s.add(Mark(board=p.board, n=-p.n))

        return handlers


async def _open(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(CommonBase.metadata.create_all)
        await conn.run_sync(MarksBase.metadata.create_all)
    return db


async def _marks(db: Database, board: str) -> list[int]:
    async with db.session() as s:
        q = select(Mark.n).where(Mark.board == board).order_by(Mark.id)
        return list((await s.execute(q)).scalars())


async def _inbox_rows(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(InboxRow)) or 0)


async def test_a_handler_on_the_driver_applies_once_and_falls_back_to_a_session(
    db_url: str,
) -> None:
    db = await _open(db_url)
    recorder = Recorder()
    consumer = InboxConsumer(db, LocalTransport(), recorder.handlers(), group="marks")
    board = uuid.uuid4().hex[:6]
    plain = build_envelope(MarkMade(board=board, n=1)).to_message(TOPIC)
    needs_session = build_envelope(MarkMade(board=board, n=2, orm=True)).to_message(TOPIC)
    duplicates = DUPLICATES.labels("marks")._value.get()
    fallbacks = SESSION_FALLBACKS.labels("marks", MarkMade.event_type)._value.get()
    try:
        await consumer.process(plain)
        await consumer.process(needs_session)
        await consumer.process(plain)  # redelivered: the inbox says applied
        await consumer.process(needs_session)
        # A redelivery reaches no handler.
        if db.on_asyncpg:
            assert recorder.given == [(1, "driver"), (2, "driver"), (2, "session")]
        else:
            assert recorder.given == [(1, "session"), (2, "session")]
        # Each applied once; the driver's attempt at the second left nothing.
        assert await _marks(db, board) == [1, 2, -2]
        assert await _inbox_rows(db) == 2
        assert DUPLICATES.labels("marks")._value.get() == duplicates + 2
        ran_again = SESSION_FALLBACKS.labels("marks", MarkMade.event_type)._value.get()
        assert ran_again == fallbacks + (1 if db.on_asyncpg else 0)
    finally:
        await db.dispose()


def test_registering_again_without_on_driver_runs_in_a_session() -> None:
    handlers = EventHandlers()

    async def first(s: Any, p: MarkMade, env: Any) -> None: ...

    handlers.on(MarkMade, on_driver=True)(first)
    assert handlers.runs_on_driver(MarkMade.event_type)
    handlers.on(MarkMade)(first)
    assert not handlers.runs_on_driver(MarkMade.event_type)
