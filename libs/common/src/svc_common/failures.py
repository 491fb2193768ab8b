"""Transient versus permanent failures.

A failure caused by infrastructure — the database unreachable or restarting,
a connection reset, a serialization failure or deadlock, a lock timeout, a
Kafka error — goes away by itself: a request gets 503 with Retry-After, an
event is retried (its partition paused, with back-off) and never
dead-lettered. Anything else is permanent for that input: the request gets
its 4xx (or a 500 for a bug), the event goes to `.dlq` after its attempts.
"""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import exc as sa_exc

#: SQLSTATEs a retry fixes: serialization failure, deadlock, lock timeout,
#: connection exceptions, too many connections, admin/crash shutdown,
#: cannot connect now, read-only transaction during a fail-over.
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",
        "40P01",
        "55P03",
        "57014",
        "57P01",
        "57P02",
        "57P03",
        "53300",
        "53400",
        "25006",
        "08000",
        "08001",
        "08003",
        "08004",
        "08006",
        "08007",
    }
)


class TransientFailure(Exception):
    """A failure a retry will fix (raised by a consumer so the transport
    retries the message later, in order, instead of dead-lettering it)."""


class DatabaseUnreachable(TransientFailure):
    """No connection to the database could be made, whatever PostgreSQL
    answered: refused, a database that does not accept connections (or no
    longer exists), credentials it refuses. The dependency is unavailable —
    a 503 for a request, a paused partition for an event — not a fault of
    the request or the event (those SQLSTATEs, 55000 or 3D000, mean a bug
    when a statement raises them, so they are not transient by their
    code)."""


class PermanentFailure(Exception):
    """A handler's way to say that no retry can apply this event (a domain
    invariant it cannot meet): it is dead-lettered at once."""


def _sqlstate(exc: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        code = getattr(exc, attr, None)
        if isinstance(code, str):
            return code
    return None


#: What asyncpg says when a statement is sent on a connection whose protocol
#: is stuck consuming a message it could not take while idle (state 2,
#: PROTOCOL_ERROR_CONSUME): the server's FATAL as it ends the session (a
#: restart, an idle timeout) came before the socket closed. Seen in the
#: chaos suite as a 500 on a read during PostgreSQL's restart.
_STUCK_PROTOCOL = "another operation (2) is in progress"


def is_stuck_connection(exc: BaseException) -> bool:
    """An asyncpg connection the server has ended, found before its socket
    closed (see _STUCK_PROTOCOL): transient, and the connection is dead.
    Another InternalClientError (two operations at once on one connection)
    is a bug and stays permanent."""
    kind = type(exc)
    return (
        kind.__name__ == "InternalClientError"
        and kind.__module__.startswith("asyncpg.")
        and _STUCK_PROTOCOL in str(exc)
    )


#: What a statement with more bind parameters than the database takes
#: raises: asyncpg's InterfaceError (a class that otherwise means a lost
#: connection) and SQLite's OperationalError (otherwise a locked database).
_TOO_MANY_PARAMETERS = ("number of query arguments cannot exceed", "too many SQL variables")


def is_too_many_parameters(exc: BaseException) -> bool:
    """A statement built with more bind parameters than the database takes
    (PostgreSQL's protocol: 32767; SQLite: 32766): the statement is wrong
    for its input, whatever the database's state, and the same statement
    sent again fails again. Not transient: a request is not told to retry
    (503) nor an event retried for ever; a path that takes a list from its
    input chunks or bounds it (a 4xx) before it gets here."""
    for e in (exc, getattr(exc, "orig", None)):
        if e is not None and any(says in str(e) for says in _TOO_MANY_PARAMETERS):
            return True
    return False


def _one_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientFailure):
        return True
    if is_stuck_connection(exc):
        return True
    if isinstance(exc, PermanentFailure):
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        # SQLite's OperationalError covers "database is locked" and a vanished
        # file; PostgreSQL's covers every lost or refused connection.
        return True
    if isinstance(exc, sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return True
    if (code := _sqlstate(exc)) is not None and code in TRANSIENT_SQLSTATES:
        return True
    name = type(exc).__module__ + "." + type(exc).__name__
    if name.startswith("asyncpg.exceptions.") and any(
        part in name
        for part in (
            "ConnectionDoesNotExist",
            "ConnectionFailure",
            "CannotConnectNow",
            "TooManyConnections",
            "InterfaceError",
            "PostgresConnectionError",
            "SerializationError",
            "DeadlockDetected",
            "LockNotAvailable",
            "AdminShutdown",
            "CrashShutdown",
            "QueryCanceled",
        )
    ):
        return True
    if name.startswith("aiokafka.errors.") or name.startswith("kafka.errors."):
        return True
    return isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | OSError)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, is transient."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PermanentFailure) or is_too_many_parameters(current):
            return False
        if _one_is_transient(current):
            return True
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException) and _one_is_transient(orig):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_unique_violation(error: BaseException) -> bool:
    """A unique index refused the write (SQLSTATE 23505; SQLite's "UNIQUE
    constraint failed"), whether it came through SQLAlchemy or from asyncpg
    itself (`DriverStatement`)."""
    for e in (error, getattr(error, "orig", None)):
        if e is None:
            continue
        if getattr(e, "sqlstate", None) == "23505" or getattr(e, "pgcode", None) == "23505":
            return True
        if "UNIQUE constraint failed" in str(e):
            return True
    return False
