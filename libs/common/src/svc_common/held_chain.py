"""Chains of transactions kept between units of work (保持的连续事务): one
for a worker that applies one thing at a time (`HeldChain`, the inbox
consumer of a group), and a few spare ones for workers that come and go
(`SpareChains`, the group commit's batches of quiet keys).

Each message a consumer applies on the driver is one transaction. Beginning
it costs a pool checkout and a BEGIN round trip on the path of every event,
a saga's hop included. A `HeldChain` keeps one connection checked out as a
`DriverChain`: each commit begins the next transaction in its own round
trip (`COMMIT; BEGIN`), so the next message starts with its transaction
already open. (A hot pool's group commit keeps its chain the same way.)

Why a transaction begun ahead is harmless: until its first statement it has
no snapshot and no transaction id, and locks no row or table (only its own
virtual transaction id), so it neither holds vacuum back nor makes anyone
wait. No statement of these services reads the server's clock (`now()`
would answer the BEGIN's time): times come from the process's one clock.
PostgreSQL shows the session as `idle in transaction`; after `idle_seconds`
with no next unit the chain is rolled back and its connection goes back to
the pool (docs/operations.md). After `CHAIN_MAX` transactions it goes back
too, so the pool's recycling and checks still see it.

Anything that goes wrong in a unit (the handler raised, the commit failed,
the connection broke, the task was cancelled) ends the chain: the unit is
rolled back and the connection goes back to the pool, or is thrown away if
broken, as `Database.driver_chain()` does; the next unit begins a new chain.
A kept connection the server closed while it waited (a restart, an
idle-in-transaction timeout) is thrown away before the next unit, which
begins on a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog

from svc_common.cleanups import Cleanups
from svc_common.db import CHAIN_MAX, Database, DriverChain, DriverUnit, run_to_completion

#: How long a spare chain waits for a batch to take it (seconds). Under load
#: one comes within milliseconds; idle, the begun transaction is rolled back.
SPARE_LINGER = 0.05
#: At most this many spare chains per database (per process).
SPARES_MAX = 4

log = structlog.get_logger(__name__)


class HeldChain:
    """Units of work one after another on one kept connection (see the
    module). `idle_seconds` 0 keeps nothing: each unit is a plain
    `Database.driver_unit()`. PostgreSQL on asyncpg only."""

    def __init__(
        self, db: Database, *, idle_seconds: float, max_transactions: int = CHAIN_MAX
    ) -> None:
        self.db = db
        self.idle_seconds = idle_seconds
        self.max_transactions = max_transactions
        self._held: tuple[AsyncExitStack, DriverChain] | None = None
        #: A unit is running on the held chain: a concurrent one takes its own.
        self._busy = False
        self._idle: asyncio.TimerHandle | None = None
        self._releasing = Cleanups("held chain released")

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[DriverUnit]:
        """One transaction: committed when the block ends, beginning the
        next one in the same round trip (unless it is the chain's last);
        rolled back if it raises, and the chain given up."""
        if self._busy or self.idle_seconds <= 0:
            async with self.db.driver_unit() as plain:
                yield plain
            return
        self._busy = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            if self._held is not None and self._held[1].closed:
                stack, _ = self._held
                self._held = None
                await run_to_completion(release(stack))
            if self._held is None:
                stack = AsyncExitStack()
                chain = await stack.enter_async_context(self.db.driver_chain())
                self._held = (stack, chain)
            stack, chain = self._held
            try:
                unit = await chain.begin()
                yield unit
                # The last of the chain: closed meanwhile, or long enough.
                last = self.idle_seconds <= 0 or chain.transactions + 1 >= self.max_transactions
                await chain.commit(unit, then_begin=not last)
            except BaseException as exc:
                self._held = None
                # To its end even if cancelled again: cut short, the
                # connection would be neither pooled again nor thrown away.
                await run_to_completion(_give_up(chain, stack, exc))
                raise
            if last:
                self._held = None
                await run_to_completion(release(stack))
            else:
                loop = asyncio.get_running_loop()
                self._idle = loop.call_later(self.idle_seconds, self._let_go)
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
        self._releasing.start(release(stack))

    async def close(self) -> None:
        """Give the kept connection back and keep none from now on (the
        service is stopping). A unit still running gives it back itself
        when it ends."""
        self.idle_seconds = 0
        if self._idle is not None:
            self._idle.cancel()
        self._let_go()
        await self._releasing.finished()


async def _give_up(chain: DriverChain, stack: AsyncExitStack, exc: BaseException) -> None:
    """A unit failed: undo it (a connection that cannot roll back is closed),
    then let the checkout decide whether the connection may be pooled again."""
    try:
        await chain.rollback()
    finally:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)


async def release(stack: AsyncExitStack) -> None:
    """End a chain nothing failed in: its begun transaction rolled back, its
    connection given back (thrown away if the server closed it)."""
    try:
        await stack.aclose()
    except Exception as exc:  # the checkout has thrown the connection away
        log.warning("kept connection not released cleanly", error=repr(exc))


class SpareChains:
    """Begun transactions kept a moment for the next batch of any key
    (备用的已开始事务), PostgreSQL on asyncpg.

    A group commit's batch of a key nobody else is writing to is one
    transaction on a connection of its own: a checkout, a BEGIN round trip,
    the statements, a COMMIT. Its worker then has nothing more for its key.
    Instead of letting the connection go, the batch commits with `COMMIT;
    BEGIN` (one round trip) and parks the chain here: the next batch of any
    key takes it with its transaction begun, and pays neither the checkout
    nor the BEGIN. What makes an early BEGIN harmless is said in the module's
    docstring. A chain is parked only clean (its begun transaction unused),
    at most `size` at a time, for at most `linger` seconds, then rolled back
    and given back; one the server closed meanwhile is given back (thrown
    away) when found; after `CHAIN_MAX` transactions a chain is not parked
    again, so the pool's recycling and checks still see its connection.
    `aclose()` (called by `Database.dispose()`) gives every spare back."""

    def __init__(
        self,
        db: Database,
        *,
        linger: float = SPARE_LINGER,
        size: int = SPARES_MAX,
        max_transactions: int = CHAIN_MAX,
    ) -> None:
        self.db = db
        self.linger = linger
        self.size = size
        self.max_transactions = max_transactions
        #: Most recently parked last; each with its expiry timer and the
        #: pool its connection came from.
        self._kept: list[tuple[AsyncExitStack, DriverChain, asyncio.TimerHandle, object]] = []
        #: Chains that began a transaction for a place here (`wants`) and
        #: have not yet been parked or given up: their places are theirs.
        self._promised: set[DriverChain] = set()
        self._releasing = Cleanups("spare chains released")
        #: Chains taken and parked (how often a batch found one begun).
        self.taken = 0
        self.parked = 0

    def wants(self, chain: DriverChain) -> bool:
        """Whether `chain`, committed now, will be kept: a committing batch
        begins the next transaction for a spare only then. True keeps a
        place for it until it is parked or given up (`abandon`), so batches
        ending together do not begin more transactions than there are
        places."""
        if chain in self._promised:
            return True
        if (
            len(self._kept) + len(self._promised) >= self.size
            or chain.transactions + 1 >= self.max_transactions
        ):
            return False
        self._promised.add(chain)
        return True

    def abandon(self, chain: DriverChain) -> None:
        """`chain` will not be parked (its unit failed): its place is free."""
        self._promised.discard(chain)

    def take(self) -> tuple[AsyncExitStack, DriverChain] | None:
        """The most recently parked chain, its transaction begun, or None."""
        while self._kept:
            stack, chain, timer, pool = self._kept.pop()
            timer.cancel()
            # The server ended the session while it waited, or the pool it
            # came from was disposed of (`driver()` closes it on release).
            if chain.closed or pool is not self.db.engine.pool:
                self._releasing.start(release(stack))
                continue
            self.taken += 1
            return stack, chain
        return None

    def park(self, stack: AsyncExitStack, chain: DriverChain) -> bool:
        """Keep `chain` (whose checkout `stack` holds) for the next batch, if
        its begun transaction is unused and there is room; whether kept. Not
        kept, the caller gives it back (`release`)."""
        self._promised.discard(chain)  # its place, if it had one, is free for it
        if (
            not chain.begun
            or chain.closed
            or chain.transactions >= self.max_transactions
            or len(self._kept) + len(self._promised) >= self.size
        ):
            return False
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.linger, self._expire, chain)
        self._kept.append((stack, chain, timer, self.db.engine.pool))
        self.parked += 1
        return True

    def _expire(self, chain: DriverChain) -> None:
        """No batch took `chain` in time: roll it back and give it back."""
        for i, (stack, kept, _timer, _pool) in enumerate(self._kept):
            if kept is chain:
                del self._kept[i]
                self._releasing.start(release(stack))
                return

    async def aclose(self) -> None:
        """Give every spare back and keep none from now on (the service is
        stopping)."""
        self.size = 0
        self._promised.clear()
        while self._kept:
            stack, _chain, timer, _pool = self._kept.pop()
            timer.cancel()
            self._releasing.start(release(stack))
        await self._releasing.finished()


def spare_chains(db: Database) -> SpareChains:
    """The database's spare chains (one set per database, shared by every
    group commit on it)."""
    return db.helper("svc_common.spare_chains", lambda: SpareChains(db))
