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
than `PING_IDLE_SECONDS` (a second), far more than `linger`. A connection
of a pool disposed of meanwhile is closed instead of used. Kept ones count
as checked out in the pool's figures (db_pool_in_use).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

#: At most this many connections kept per database (per process).
WARM_MAX = 2
#: How long a kept connection waits for a next use (seconds).
WARM_LINGER = 0.05


class WarmConnections:
    """The connections kept (see the module). `give_back(pooled, pool)`
    returns one to its pool, or closes it if it is no longer fit or its pool
    was disposed of; it runs in the background, in an empty context (a log
    line of it must not carry the ids of the request whose use left it)."""

    def __init__(
        self,
        give_back: Callable[[Any, object], Coroutine[Any, Any, None]],
        *,
        size: int = WARM_MAX,
        linger: float = WARM_LINGER,
    ) -> None:
        self.size = size
        self.linger = linger
        self._give_back = give_back
        #: Most recently kept last: (pooled connection, its pool, kept at).
        self._kept: list[tuple[Any, object, float]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._returning: set[asyncio.Task[None]] = set()
        #: Uses that found one kept (how often the pool was skipped).
        self.reused = 0

    def __len__(self) -> int:
        return len(self._kept)

    def take(self, pool: object, fit: Callable[[Any], bool]) -> Any | None:
        """The most recently kept connection of `pool` that is still `fit`,
        or None. Kept ones that are not are given back."""
        while self._kept:
            pooled, kept_from, _at = self._kept.pop()
            if kept_from is pool and fit(pooled):
                self.reused += 1
                return pooled
            self._start_giving_back(pooled, kept_from)
        return None

    def keep(self, pooled: Any, pool: object) -> bool:
        """Keep `pooled` (fit, from `pool`) for the next use, if there is
        room; whether kept. Not kept, the caller gives it back itself."""
        if len(self._kept) >= self.size:
            return False
        loop = asyncio.get_running_loop()
        self._kept.append((pooled, pool, loop.time()))
        if self._timer is None:
            self._timer = loop.call_later(self.linger, self._cool)
        return True

    def _cool(self) -> None:
        """Give back every connection unused for `linger`; look again when
        the next one will have been."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        still = []
        for pooled, pool, at in self._kept:
            if now - at >= self.linger:
                self._start_giving_back(pooled, pool)
            else:
                still.append((pooled, pool, at))
        self._kept = still
        if still:
            oldest = min(kept_at for _pooled, _pool, kept_at in still)
            self._timer = loop.call_at(oldest + self.linger, self._cool)

    def _start_giving_back(self, pooled: Any, pool: object) -> None:
        task = asyncio.create_task(self._give_back(pooled, pool), context=contextvars.Context())
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)

    async def aclose(self) -> None:
        """Give every kept connection back and keep none from now on (the
        service is stopping)."""
        self.size = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._kept:
            pooled, pool, _at = self._kept.pop()
            self._start_giving_back(pooled, pool)
        if self._returning:
            await asyncio.gather(*self._returning, return_exceptions=True)
