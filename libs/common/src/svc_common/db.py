"""Async database access for PostgreSQL (asyncpg) and SQLite (aiosqlite).

`Database.transaction()` is the unit of work: everything a request or an
event handler changes, its outbox rows, inbox row, idempotency record and audit
entry, commits together or not at all. After a commit that wrote outbox rows
the relay is woken, so publishing latency is not a polling interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

OUTBOX_WRITTEN = "outbox_written"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the one writer; foreign keys are off
            # by default in SQLite and we want the same integrity as PostgreSQL.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    if kwargs.get("poolclass") is NullPool:
        kwargs.pop("pool_size")
        kwargs.pop("max_overflow")
    return create_async_engine(url, **kwargs)


class Database:
    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer per file; serialising writers in-process avoids
        # "database is locked" storms under concurrent requests.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._commit_listeners: list[Callable[[], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def on_outbox_commit(self, callback: Callable[[], None]) -> None:
        self._commit_listeners.append(callback)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; it is rolled back at the end."""
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One atomic unit of work; commits on success, rolls back on error."""
        if self._write_lock is not None:
            async with self._write_lock, self._transaction() as session:
                yield session
        else:
            async with self._transaction() as session:
                yield session

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
            if session.info.pop(OUTBOX_WRITTEN, False):
                for callback in self._commit_listeners:
                    callback()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


class CommonBase(DeclarativeBase):
    """Declarative base of the tables every service has: outbox, inbox,
    idempotency keys and audit trail. Each service has its own base for its
    domain tables; these live once here and are created by each service's
    first migration."""
