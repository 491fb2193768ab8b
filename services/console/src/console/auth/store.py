"""Server-side sessions: the signed-in user (with the bearer token) is kept
here under a random session id; the cookie carries only that id (and the
CSRF token and flash messages), so it reveals no token, and signing out
deletes the record, which makes a copy of the old cookie worthless.

Two stores: in memory (the default: the embedded default and a single
console, nothing to install; sessions end at a restart, as with a random
SESSION_SECRET) and a SQL table through SQLAlchemy (`SESSION_STORE_URL`,
e.g. the PostgreSQL the services use, `postgresql+asyncpg://…`), which
several console replicas share."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from console.errors import SessionStoreDown

_T = TypeVar("_T")


class SessionStore(Protocol):
    async def get(self, sid: str) -> dict[str, Any] | None: ...

    async def put(self, sid: str, record: dict[str, Any], expires_at: float) -> None: ...

    async def delete(self, sid: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """One process's sessions (the embedded default)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}
        self._limit = limit

    async def get(self, sid: str) -> dict[str, Any] | None:
        item = self._items.get(sid)
        if item is None:
            return None
        if item[0] <= time.time():
            self._items.pop(sid, None)
            return None
        return dict(item[1])

    async def put(self, sid: str, record: dict[str, Any], expires_at: float) -> None:
        if len(self._items) >= self._limit:
            now = time.time()
            for k in [k for k, (exp, _) in self._items.items() if exp <= now]:
                del self._items[k]
            while len(self._items) >= self._limit:  # the oldest sessions end first
                del self._items[next(iter(self._items))]
        self._items[sid] = (expires_at, dict(record))

    async def delete(self, sid: str) -> None:
        self._items.pop(sid, None)

    async def aclose(self) -> None:
        self._items.clear()


_meta = MetaData()
SESSIONS = Table(
    "console_sessions",
    _meta,
    Column("sid", String(64), primary_key=True),
    Column("record", Text, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


class SqlStore:
    """Sessions in a table every replica reads (created when missing)."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        self._ready = False
        self._preparing = asyncio.Lock()

    async def _prepare(self) -> None:
        if self._ready:
            return
        async with self._preparing:
            if self._ready:
                return
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(_meta.create_all)
            except DBAPIError:
                # Another replica created it between the check and the CREATE.
                async with self.engine.connect() as conn:
                    if not await conn.run_sync(lambda c: inspect(c).has_table(SESSIONS.name)):
                        raise
            self._ready = True

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        """`work` in one transaction; the table made again if it went (an
        operator dropped it: it holds nothing that cannot be signed in
        again); any failure of the store is SessionStoreDown."""
        for attempt in (1, 2):
            try:
                await self._prepare()
                async with self.engine.begin() as conn:
                    return await work(conn)
            except (DBAPIError, OSError) as exc:
                if attempt == 1 and self._ready:
                    self._ready = False  # the table may have gone: check once more
                    continue
                raise SessionStoreDown() from exc
        raise AssertionError("unreachable")

    async def get(self, sid: str) -> dict[str, Any] | None:
        async def read(conn: AsyncConnection) -> Any:
            query = select(SESSIONS.c.record).where(
                SESSIONS.c.sid == sid, SESSIONS.c.expires_at > time.time()
            )
            return (await conn.execute(query)).first()

        row = await self._run(read)
        if row is None:
            return None
        record: dict[str, Any] = json.loads(row[0])
        return record

    async def put(self, sid: str, record: dict[str, Any], expires_at: float) -> None:
        async def write(conn: AsyncConnection) -> None:
            # Ended sessions are swept as new ones begin.
            await conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at <= time.time()))
            await conn.execute(
                insert(SESSIONS).values(sid=sid, record=json.dumps(record), expires_at=expires_at)
            )

        await self._run(write)

    async def delete(self, sid: str) -> None:
        async def remove(conn: AsyncConnection) -> None:
            await conn.execute(delete(SESSIONS).where(SESSIONS.c.sid == sid))

        await self._run(remove)

    async def aclose(self) -> None:
        await self.engine.dispose()


def make_store(url: str | None) -> SessionStore:
    return SqlStore(url) if url else MemoryStore()
