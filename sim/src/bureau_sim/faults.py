"""How a simulated fault reaches the services' code.

A crash is `SimCrash`, a BaseException: `except Exception` blocks in the
services do not catch it, as they would not catch a process dying. Once a
process has crashed every later database call of that process raises it too,
so no `finally` block of a dead process writes anything.

A database outage is what SQLAlchemy raises when the server has gone away:
`OperationalError` with `connection_invalidated`, on every statement and
every commit, for as long as the outage lasts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc


class SimCrash(BaseException):
    """The process of service `node` died at this point."""

    def __init__(self, node: str, where: str = "") -> None:
        super().__init__(f"{node} crashed {where}".strip())
        self.node = node
        self.where = where


class DatabaseGone(ConnectionRefusedError):
    """What the driver saw: the server refused or dropped the connection."""


def database_unavailable(statement: str | None, params: Any) -> exc.OperationalError:
    return exc.OperationalError(
        statement,
        params,
        DatabaseGone("could not connect to the database server (simulated outage)"),
        connection_invalidated=True,
    )


def crash_in(error: BaseException) -> SimCrash | None:
    """The SimCrash in `error`, also inside an exception group or a chain."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SimCrash):
            return e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        if e.__cause__ is not None:
            stack.append(e.__cause__)
        if e.__context__ is not None:
            stack.append(e.__context__)
    return None
