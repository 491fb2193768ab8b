"""aiosqlite without its worker threads: every SQLite call runs at once on the
event loop's thread.

aiosqlite hands each call to a thread and resumes the caller when the thread
is done; with two tasks waiting on two threads, which resumes first is up to
the operating system. The simulator needs the same interleaving on every run
of a seed, so the calls run inline and the only places a task may give way
to another are the ones the scheduler chooses (`set_yield_hook`): before a
database call, as a real driver waiting on I/O would.

SQLite files are still real files with real transactions, WAL and locks; the
services' `Database` serialises writers per file as in the embedded default.
A writer finding the file locked gets SQLITE_BUSY at once instead of waiting
(a wait would block the only thread): it would show a second writer the
services do not expect, and the simulation reports it as a failure.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
from aiosqlite import core

_hook: Callable[[], Awaitable[None]] | None = None
_installed: Any = None


def set_yield_hook(hook: Callable[[], Awaitable[None]] | None) -> None:
    """`hook()` is awaited before every database call (None: never yield)."""
    global _hook
    _hook = hook


class _InlineQueue:
    """Stands in for aiosqlite's queue to its thread: runs the call now."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
        else:
            if future is not None and not future.done():
                future.set_result(result)


class InlineConnection(core.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    def __await__(self) -> Any:  # no thread to start
        return self._connect().__await__()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if _hook is not None:
            await _hook()
            if not self._running or not self._connection:
                raise ValueError("Connection closed")
        if args and isinstance(args[0], str) and args[0].startswith("PRAGMA busy_timeout"):
            args = ("PRAGMA busy_timeout=0", *args[1:])
        return fn(*args, **kwargs)


def _connect(database: Any, *, iter_chunk_size: int = 64, **kwargs: Any) -> InlineConnection:
    def connector() -> sqlite3.Connection:
        loc = database.decode() if isinstance(database, bytes) else str(database)
        return sqlite3.connect(loc, **kwargs)

    return InlineConnection(connector, iter_chunk_size)


def install() -> None:
    """Make `aiosqlite.connect` (which SQLAlchemy's aiosqlite dialect calls)
    give inline connections. Idempotent."""
    global _installed
    if _installed is None:
        _installed = aiosqlite.connect
        aiosqlite.connect = _connect


def uninstall() -> None:
    global _installed
    if _installed is not None:
        aiosqlite.connect = _installed
        _installed = None
