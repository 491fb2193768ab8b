"""A service as the simulator runs it: its real FastAPI app, lifespan,
handlers and database, started, crashed and restarted from its database.

A process is one incarnation of the service: a crash marks it dead (every
later database call of it raises SimCrash), and a restart enters the app's
lifespan again, which builds a new database engine, outbox relay and inbox
consumer exactly as a new process would. The database itself survives, and
so do its outages (a restart during an outage fails and is tried again)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import Database, Unit
from svc_common.events.envelope import Envelope
from svc_common.inbox import EventHandlers
from svc_common.service import Runtime, ServiceSpec

from bureau_sim.faults import SimCrash, database_unavailable

if TYPE_CHECKING:
    from bureau_sim.world import Sim

#: Set in a session's info by a wrapped handler: the event it applied.
APPLIED = "bureau_sim.applied"
#: Statements that change what the per-step ledger checks read.
LEDGER_WRITES = (
    "INSERT INTO journal_entries",
    "UPDATE pools",
    "INSERT INTO pools",
    "INSERT INTO reservations",
    "UPDATE reservations",
    "WITH",  # PostgreSQL: one combined statement of several writes
)


@dataclass
class Process:
    incarnation: int
    crashed: bool = False


def _mark_applications(handlers: EventHandlers) -> Callable[[], None]:
    """Wrap each handler so its transaction says which event it applied (the
    simulator counts committed applications per event); returns the undo."""
    by_type: dict[str, Any] = handlers._by_type
    originals = dict(by_type)
    for event_type, fn in originals.items():

        async def marked(s: AsyncSession, payload: Any, env: Envelope, _fn: Any = fn) -> None:
            s.info[APPLIED] = env.id
            await _fn(s, payload, env)

        by_type[event_type] = marked

    def undo() -> None:
        by_type.update(originals)

    return undo


class Node:
    def __init__(self, sim: Sim, name: str, app: FastAPI) -> None:
        self.sim = sim
        self.name = name
        self.app = app
        self.spec: ServiceSpec = app.state.spec
        self.group = self.spec.name
        self.up = False
        self.proc = Process(0, crashed=True)
        self.stack: contextlib.AsyncExitStack | None = None
        #: The database server's outage: until this simulated time.
        self.db_down_until = 0.0
        self.relay_at: float | None = None
        self.restart_at: float | None = None
        #: Committed applications of each event id by this service's inbox.
        self.applied: dict[str, int] = {}
        self.dirty = True
        self._unmark: Callable[[], None] | None = None
        if self.spec.handlers is not None:
            self._unmark = _mark_applications(self.spec.handlers)

    @property
    def runtime(self) -> Runtime:
        rt: Runtime = self.app.state.runtime
        return rt

    @property
    def db(self) -> Database:
        return self.runtime.db

    async def start(self) -> bool:
        """Start a new process; False while its database is down."""
        if self.sim.now < self.db_down_until:
            return False
        proc = Process(self.proc.incarnation + 1)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.app.router.lifespan_context(self.app))
        self.proc, self.stack = proc, stack
        db = self.runtime.db
        self._attach(db, proc)
        db.on_outbox_commit(lambda: self.sim.wake_relay(self))
        db.on_outbox_direct(lambda rows: self.sim.wake_relay(self))
        self.up = True
        self.restart_at = None
        return True

    def _attach(self, db: Database, proc: Process) -> None:
        node, sim = self, self.sim

        def check(statement: str | None, params: Any) -> None:
            if proc.crashed:
                raise SimCrash(node.name, "(a call of the dead process)")
            if sim.now < node.db_down_until:
                sim.count(f"database call failed: {node.name} database down")
                raise database_unavailable(statement, params)

        def before_cursor(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            check(statement, params)
            if statement.startswith(LEDGER_WRITES):
                node.dirty = True  # the ledger changed: the per-step checks look

        def before_commit(_conn: Any) -> None:
            check("COMMIT", None)

        event.listen(db.engine.sync_engine, "before_cursor_execute", before_cursor)
        event.listen(db.engine.sync_engine, "commit", before_commit)
        original: Callable[[], Any] = db.transaction

        @contextlib.asynccontextmanager
        async def transaction() -> AsyncIterator[AsyncSession]:
            if proc.crashed:
                raise SimCrash(node.name, "(a call of the dead process)")
            joined = db._unit.get() is not None
            async with original() as s:
                yield s
            if joined:
                return  # part of a request's unit of work: nothing committed yet
            applied = s.info.pop(APPLIED, None)
            if applied is not None:
                times = node.applied[applied] = node.applied.get(applied, 0) + 1
                if times == 2:
                    sim.violation(
                        "every event applied once per service",
                        f"{node.group} applied event {applied} a second time",
                    )
            if sim.roll("crash_after_commit"):
                sim.count("crash after commit")
                raise SimCrash(node.name, "after a commit")

        db.transaction = transaction  # type: ignore[method-assign]
        original_commit = db.commit

        async def commit(unit: Unit) -> None:
            """A write request's unit of work commits; the process may die
            before its answer leaves."""
            await original_commit(unit)
            if sim.roll("crash_after_commit"):
                sim.count("crash after commit")
                raise SimCrash(node.name, "after committing a request, before answering")

        db.commit = commit  # type: ignore[method-assign]

    def crash(self, where: str) -> None:
        """The process dies now; it is restarted after a while."""
        if not self.up:
            return
        self.proc.crashed = True
        self.up = False
        self.relay_at = None
        self.sim.broker.lost_consumer(self.group)
        self.sim.count("crashes")
        self.sim.trace_line(f"crash {self.name} {where}")
        self.sim.schedule_restart(self, self.sim.frng.uniform(2, 90))

    async def restart(self) -> bool:
        if self.up:
            return True
        if self.stack is not None:
            stack, self.stack = self.stack, None
            with contextlib.suppress(Exception):
                await stack.aclose()
        return await self.start()

    async def stop(self) -> None:
        self.up = False
        if self._unmark is not None:
            self._unmark()
            self._unmark = None
        if self.stack is not None:
            stack, self.stack = self.stack, None
            self.proc.crashed = False
            await stack.aclose()
