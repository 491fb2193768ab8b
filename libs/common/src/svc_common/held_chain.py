"""A chain of transactions kept between the units of work of one worker that
applies one thing at a time (保持的连续事务): the inbox consumer of a group.

Each message a consumer applies on the driver is one transaction. Beginning
it costs a pool checkout and a BEGIN round trip on the path of every event,
a saga's hop included. A `HeldChain` keeps one connection checked out as a
`DriverChain`: each commit begins the next transaction in its own round
trip (`COMMIT; BEGIN`), so the next message starts with its transaction
already open.

Why a transaction begun ahead is harmless: until its first statement it
holds nothing on the server (no snapshot, no transaction id, no lock), so
it neither blocks vacuum nor waits for anyone. No statement of these
services reads the server's clock (`now()` would answer the BEGIN's time):
times come from the process's one clock. PostgreSQL shows the session as
`idle in transaction`; after `idle_seconds` with no next unit the chain is
rolled back and its connection goes back to the pool, so no session stays
idle in transaction longer than that (docs/operations.md).

Anything that goes wrong in a unit (the handler raised, the commit failed,
the connection broke) ends the chain: the unit is rolled back and the
connection goes back to the pool, or is thrown away if broken, as
`Database.driver_chain()` does; the next unit begins a new chain. A
connection that broke while held idle (the server restarted) fails the next
unit's first statement, a transient failure the transport retries with a
new connection.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog

from svc_common.db import Database, DriverChain, DriverUnit

log = structlog.get_logger(__name__)


class HeldChain:
    """Units of work one after another on one kept connection (see the
    module). `idle_seconds` 0 keeps nothing: each unit is a plain
    `Database.driver_unit()`. PostgreSQL on asyncpg only."""

    def __init__(self, db: Database, *, idle_seconds: float) -> None:
        self.db = db
        self.idle_seconds = idle_seconds
        self._held: tuple[AsyncExitStack, DriverChain] | None = None
        #: A unit is running on the held chain: a concurrent one takes its own.
        self._busy = False
        self._idle: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> bool:
        """Whether a connection is kept (with or without a unit running)."""
        return self._held is not None

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[DriverUnit]:
        """One transaction: committed when the block ends, beginning the
        next one in the same round trip; rolled back if it raises, and the
        chain given up."""
        if self._busy or self.idle_seconds <= 0:
            async with self.db.driver_unit() as plain:
                yield plain
            return
        self._busy = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            if self._held is None:
                stack = AsyncExitStack()
                chain = await stack.enter_async_context(self.db.driver_chain())
                self._held = (stack, chain)
            stack, chain = self._held
            try:
                unit = await chain.begin()
                yield unit
                await chain.commit(unit, then_begin=True)
            except BaseException as exc:
                # Undone first (a connection that cannot roll back is closed),
                # then the checkout's exit decides whether it may go back to
                # the pool.
                self._held = None
                await chain.rollback()
                await stack.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            self._idle = asyncio.get_running_loop().call_later(self.idle_seconds, self._let_go)
        finally:
            self._busy = False

    def _let_go(self) -> None:
        """No unit came for `idle_seconds`: roll the begun transaction back
        and give the connection back."""
        self._idle = None
        if self._busy or self._held is None:
            return
        stack, _ = self._held
        self._held = None
        # In an empty context: a log line of the release must not carry the
        # ids of the last message.
        task = asyncio.create_task(_release(stack), context=contextvars.Context())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        """Give the kept connection back and keep none from now on (the
        service is stopping)."""
        self.idle_seconds = 0
        if self._idle is not None:
            self._idle.cancel()
        self._let_go()
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)


async def _release(stack: AsyncExitStack) -> None:
    try:
        await stack.aclose()
    except Exception as exc:  # the connection is thrown away by the checkout
        log.warning("kept connection not released cleanly", error=repr(exc))
