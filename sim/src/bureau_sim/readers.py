"""The harness's own read-only view of each service's database, for the
invariants: a plain connection beside the service's engine, never subject to
the simulated faults. SQL is written with `?` placeholders and portable
functions; PostgreSQL gets `$n` placeholders."""

from __future__ import annotations

import re
import sqlite3
from typing import Any, Protocol

import asyncpg


class Reader(Protocol):
    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]: ...

    async def close(self) -> None: ...


class SqliteReader:
    def __init__(self, path: str) -> None:
        # Autocommit: each query sees everything committed so far (WAL).
        self.conn = sqlite3.connect(path, isolation_level=None)

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    async def close(self) -> None:
        self.conn.close()


_PLACEHOLDER = re.compile(r"\?")


class PgReader:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> PgReader:
        return cls(await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://")))

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        n = 0

        def number(_: re.Match[str]) -> str:
            nonlocal n
            n += 1
            return f"${n}"

        records = await self.conn.fetch(_PLACEHOLDER.sub(number, sql), *params)
        return [tuple(r) for r in records]

    async def close(self) -> None:
        await self.conn.close()
