"""Connections kept out of the pool for a moment between uses of the driver
(暂留的连接): `Database.driver()` hands the next use one of these instead
of checking one out again.

Under asyncio, SQLAlchemy's pool runs its checkout and its checkin each in
a greenlet of its own, and switching into a greenlet and back copies the
part of the C stack in use (deep under a request's middleware): some 30 µs
of CPU a use, paid by every autocommit statement on the driver, such as an
Idempotency-Key lookup or the relay marking rows sent, a few times per
write request. A connection given back fit (open, in no transaction)
is kept here instead, at most `size` of them; the next use takes the most
recently kept one, and a connection unused for `linger` seconds goes back
to the pool.

Why skipping the pool in between is harmless: the connection is as the
pool would have handed it out. Its checkin would only roll back a
transaction SQLAlchemy began (there is none on the driver) and note when it
went idle; the pool's ping on checkout is only for connections idle longer
than `PING_IDLE_SECONDS` (a second), far more than `linger`. What the
pool's checkout checks besides (an invalidation of the whole pool after a
disconnect, recycling by age) it checks again within `max_out` seconds: a
connection is kept only that long after it came out of the pool, then it
goes back through it. A connection is not kept while the pool has no room
(none idle in it and no more may be opened): whoever waits for one gets it
at once. One of a pool disposed of meanwhile, or one asyncpg has seen
closed, is given back instead of used (one the server closed a moment ago,
before asyncpg read it, fails its statement and is thrown away, as from the
pool). Kept ones count as idle in `db_pool_connections`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

from svc_common.cleanups import Cleanups

#: At most this many connections kept per database (per process).
WARM_MAX = 2
#: How long a kept connection waits for a next use (seconds).
WARM_LINGER = 0.05
#: How long after its checkout from the pool a connection may still be kept
#: (seconds): then it goes back through the pool and its checks.
WARM_MAX_OUT = 1.0


class _Kept(NamedTuple):
    pooled: Any
    pool: object
    #: When it came out of the pool, and when it was kept (the loop's clock).
    out_since: float
    kept_at: float


class WarmConnections:
    """The connections kept (see the module). `give_back(pooled, pool)`
    returns one to its pool, or closes it if it is no longer fit or its pool
    was disposed of; it runs in the background (svc_common.cleanups)."""

    def __init__(
        self,
        give_back: Callable[[Any, object], Coroutine[Any, Any, None]],
        *,
        size: int = WARM_MAX,
        linger: float = WARM_LINGER,
        max_out: float = WARM_MAX_OUT,
    ) -> None:
        self.size = size
        self.linger = linger
        self.max_out = max_out
        self._give_back = give_back
        #: Most recently kept last.
        self._kept: list[_Kept] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._returning = Cleanups("kept connection given back")
        #: Uses that found one kept (how often the pool was skipped).
        self.reused = 0

    def __len__(self) -> int:
        return len(self._kept)

    def of(self, pool: object) -> int:
        """How many kept connections came from `pool`."""
        return sum(1 for kept in self._kept if kept.pool is pool)

    def take(self, pool: object, fit: Callable[[Any], bool]) -> tuple[Any, float] | None:
        """The most recently kept connection of `pool` that is still `fit`,
        and when it came out of the pool; or None. Kept ones that are not
        are given back."""
        while self._kept:
            kept = self._kept.pop()
            if kept.pool is pool and fit(kept.pooled):
                self.reused += 1
                return kept.pooled, kept.out_since
            self._start_giving_back(kept.pooled, kept.pool)
        return None

    def keep(self, pooled: Any, pool: object, out_since: float, *, pool_has_room: bool) -> bool:
        """Keep `pooled` (fit, out of `pool` since `out_since`) for the next
        use; whether kept. Not while the pool has no room for a waiter, nor
        past `max_out`, nor beyond `size`: the caller gives it back itself."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not pool_has_room or now - out_since >= self.max_out or len(self._kept) >= self.size:
            return False
        self._kept.append(_Kept(pooled, pool, out_since, now))
        # (A timer of a loop that has ended never fires: arm one on this one.)
        if self._timer is None or self._timer_loop is not loop:
            self._arm(loop, now + self.linger)
        return True

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._timer = loop.call_at(when, self._cool)
        self._timer_loop = loop

    def _cool(self) -> None:
        """Give back every connection unused for `linger`; look again when
        the next one will have been."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        still = []
        for kept in self._kept:
            if now - kept.kept_at >= self.linger:
                self._start_giving_back(kept.pooled, kept.pool)
            else:
                still.append(kept)
        self._kept = still
        if still:
            self._arm(loop, min(kept.kept_at for kept in still) + self.linger)

    def _start_giving_back(self, pooled: Any, pool: object) -> None:
        self._returning.start(self._give_back(pooled, pool))

    async def aclose(self) -> None:
        """Give every kept connection back and keep none from now on (the
        service is stopping)."""
        self.size = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._kept:
            kept = self._kept.pop()
            self._start_giving_back(kept.pooled, kept.pool)
        await self._returning.finished()
