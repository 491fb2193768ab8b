"""Async database access for PostgreSQL (asyncpg) and SQLite (aiosqlite).

`Database.transaction()` is the unit of work of an event handler or a sweeper:
its effect, outbox rows, inbox row and audit entries commit together or not
at all. A write request runs in one wider unit of work opened by the
Idempotency-Key middleware (`unit_of_work`): every `transaction()` and
`session()` of the request joins it, and it commits only once the answer is
ready, together with the stored answer of its Idempotency-Key, so a crash
leaves either nothing or the effect and its answer. After a commit that wrote
outbox rows the relay is woken, so publishing latency is not a polling interval.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Table, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session
from sqlalchemy.pool import NullPool
from sqlalchemy.util.concurrency import await_only, greenlet_spawn

from svc_common import fastjson
from svc_common.failures import DatabaseUnreachable, is_stuck_connection
from svc_common.warm_connections import WarmConnections

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

OUTBOX_WRITTEN = "outbox_written"
#: Outbox rows a transaction wrote with a lease for its own process's relay
#: to publish at once after the commit (svc_common.outbox, `Writes.events`);
#: forgotten by any rollback, savepoints' included.
OUTBOX_DIRECT = "outbox_direct"
#: What to call once the transaction committed (an Idempotency-Key answer
#: written with its effect: svc_common.idempotency.answer_to_keep);
#: forgotten by any rollback, savepoints' included.
AFTER_COMMIT = "after_commit"


@event.listens_for(Session, "after_soft_rollback")
def _forget_direct_rows(session: Session, previous_transaction: Any) -> None:
    # A rollback, even to a savepoint, may have undone rows written for the
    # relay to publish at once: publishing them would announce what never
    # happened. Forgotten, they are published by any relay once their lease
    # ends (svc_common.outbox.DIRECT_LEASE_SECONDS), if they were kept. So is
    # what was to follow the commit: forgotten, an answer written with its
    # effect is stored again after, which finds it there and gives it.
    session.info.pop(OUTBOX_DIRECT, None)
    session.info.pop(AFTER_COMMIT, None)


@dataclass(frozen=True)
class _DriverSQL:
    text: str
    #: The parameters' names in the order of $1, $2, …
    names: tuple[str, ...]
    #: Values the statement carries itself (literals such as `attempts + 1`).
    carried: dict[str, Any]
    #: IN lists expanded once from the values in the statement: a value
    #: given for one with a run is refused, not silently ignored.
    fixed_lists: frozenset[str] = frozenset()
    #: The values of $1, $2, … out of one dict, taken in C (`args`).
    take: Callable[[dict[str, Any]], Any] | None = None
    #: The positions whose value goes through a processor, with it.
    processed: tuple[tuple[int, Callable[[Any], Any]], ...] = ()

    def args(self, params: dict[str, Any]) -> list[Any]:
        """The positional arguments of one run: every name's value, given
        or carried, through its processor. The combined writes of a batch
        have dozens of parameters; taken by one itemgetter instead of a
        Python loop, binding costs a third (bench/RESULTS.md, 2026-12-04)."""
        if self.take is None:
            return []
        try:
            taken = self.take({**self.carried, **params} if self.carried else params)
        except KeyError:
            raise ValueError(
                f"DriverStatement needs a value for {_missing(self, params)!r}"
            ) from None
        args = [taken] if len(self.names) == 1 else list(taken)
        for i, process in self.processed:
            args[i] = process(args[i])
        return args


def _missing(sql: _DriverSQL, params: dict[str, Any]) -> str:
    return next(n for n in sql.names if n not in params and n not in sql.carried)


class DriverStatement:
    """A hot statement run on asyncpg itself: the shared mechanisms'
    (Idempotency-Key, outbox relay) outside any transaction, a hot route's
    inside its transaction (`fetch_in`). Through SQLAlchemy's execution a
    statement costs about 170 µs of CPU, on the driver about 45 µs
    (bench/RESULTS.md, 2026-12-02). It is still written once, as Core or
    text(), and compiled for asyncpg once.

    For statements whose parameters are plain values asyncpg encodes itself
    (text, integers, timestamps, arrays). An IN list of values written in
    the statement is expanded once; one whose values come with each run
    (`bindparam(expanding=True)`) is refused: its SQL changes per run.
    Results are not converted by the column types; rows come back as
    asyncpg Records (by name: `row["seq"]`)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: _DriverSQL | None = None

    def _sql(self, dialect: Dialect) -> _DriverSQL:
        if dialect.driver != "asyncpg":
            raise RuntimeError(f"DriverStatement runs on asyncpg, not {dialect.driver}")
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.literal_execute_params or any(
                p.value is None for p in compiled.post_compile_params
            ):
                raise ValueError(
                    "DriverStatement takes no expanding or literal-execute parameters"
                    " (an IN list of values written in the statement is fine)"
                )
            sql, params, processors = compiled.string, compiled.params, compiled._bind_processors
            names = tuple(compiled.positiontup or ())
            if compiled.post_compile_params:
                # IN lists of values the statement carries (`status.in_(LIVE)`):
                # expanded once, here, into one parameter per value.
                expanded = compiled.construct_expanded_state(compiled.params)
                # Its processors are the expanded values' alone: the others
                # (UTCDateTime's check of `at`, say) still apply.
                sql, params = expanded.statement, expanded.parameters
                processors = {**compiled._bind_processors, **expanded.processors}
                names = tuple(expanded.positiontup or ())
            carried = {k: v for k, v in params.items() if v is not None}
            # An INSERT's columns left to a constant default get it, as
            # through SQLAlchemy; a default computed in Python must be given.
            for column in getattr(compiled, "insert_prefetch", ()):
                default = column.default
                if default is not None and default.is_scalar and column.key not in carried:
                    carried[column.key] = default.arg
            # The columns' own checks and conversions (UTCDateTime refuses
            # a naive time) run here as they would through SQLAlchemy.
            self._compiled = _DriverSQL(
                sql,
                names,
                carried,
                frozenset(p.key for p in compiled.post_compile_params),
                itemgetter(*names) if names else None,
                tuple((i, processors[n]) for i, n in enumerate(names) if processors.get(n)),
            )
        return self._compiled

    def bound(self, dialect: Dialect, params: dict[str, Any]) -> tuple[str, list[Any]]:
        """The statement's SQL for asyncpg and its positional arguments."""
        sql = self._sql(dialect)
        if sql.fixed_lists and not sql.fixed_lists.isdisjoint(params):
            raise ValueError(
                f"DriverStatement's IN lists {sorted(sql.fixed_lists)} take the values "
                "written in the statement, not values given with a run"
            )
        return sql.text, sql.args(params)

    async def fetch(
        self, db: Database, conn: Any, params: dict[str, Any], within: float | None = None
    ) -> list[Any]:
        """The rows; with `within`, at most that many seconds (else the
        connection's command timeout) before TimeoutError (transient)."""
        sql, args = self.bound(db.engine.dialect, params)
        return list(await conn.fetch(sql, *args, timeout=within))

    async def execute(self, db: Database, conn: Any, params: dict[str, Any]) -> None:
        sql, args = self.bound(db.engine.dialect, params)
        await conn.execute(sql, *args)

    async def execute_many(self, db: Database, conn: Any, rows: list[dict[str, Any]]) -> None:
        """The statement once per row, pipelined on the driver: one round
        trip, atomic (every row or, if one fails, none)."""
        args = [self.bound(db.engine.dialect, params) for params in rows]
        await conn.executemany(args[0][0], [a for _sql, a in args])

    async def fetch_in(self, conn: AsyncConnection, params: dict[str, Any]) -> Sequence[Any]:
        """Run inside the transaction `conn` holds and return the rows (read
        them by position: asyncpg Records or SQLAlchemy Rows). On asyncpg on
        the driver whenever SQLAlchemy holds a transaction on `conn`
        (`transaction_driver` begins it there if no statement has yet);
        else, and on SQLite, through SQLAlchemy. A constraint the statement violates is raised as
        SQLAlchemy's IntegrityError either way, so callers catch one form.
        What differs: on the driver a column default computed in Python is
        not applied (give the column; a missing value is an error) and
        result values are not converted by the column types (read ids,
        numbers, text)."""
        if isinstance(conn, DriverConnection):
            return await _fetch_on(conn.driver, *self.bound(conn.dialect, params))
        if conn.dialect.driver == "asyncpg":
            driver = await transaction_driver(conn)
            if driver is not None:
                return await _fetch_on(driver, *self.bound(conn.dialect, params))
        result = await conn.execute(self.statement, params)
        return result.all() if result.returns_rows else []


def by_name(row: Any) -> Any:
    """A row read by column name, whichever path it came by: a SQLAlchemy
    Row's mapping, or an asyncpg Record (`fetch_in`, `fetch_alone`), which
    is read by name already."""
    return getattr(row, "_mapping", row)


class _Fields:
    """A driver record read by attribute (see `by_attribute`)."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None


def by_attribute(row: Any) -> Any:
    """A row read by attribute (`row.status`), whichever path it came by: a
    SQLAlchemy Row is read so already; an asyncpg Record (`fetch_alone`,
    `fetch_in`) is read by name, and is wrapped. For a read that answers
    from a table's columns without loading its ORM entity: loaded by
    primary key through a session, a row cost a read request about 0.4 ms
    of CPU (bench/RESULTS.md, 2026-12-04)."""
    return row if hasattr(row, "_mapping") else _Fields(row)


async def _fetch_on(driver: Any, sql: str, args: list[Any]) -> Sequence[Any]:
    try:
        return cast(Sequence[Any], await driver.fetch(sql, *args))
    except Exception as error:
        # Callers catch one form of a violated constraint, on either path.
        if str(getattr(error, "sqlstate", None) or "").startswith("23"):
            raise exc.IntegrityError(sql, args, error) from error
        raise


class NeedsSession(Exception):
    """An operation running on the driver (`DriverUnit`) asked for something
    only a SQLAlchemy session or connection does. Whoever ran it undoes the
    transaction and runs the operation again in `Database.transaction()`."""


class DriverConnection:
    """Stands in for the AsyncConnection of a `DriverUnit`: a
    `DriverStatement.fetch_in` runs on its asyncpg connection, in the unit's
    transaction, and `dialect` is the engine's; anything else raises
    NeedsSession."""

    def __init__(self, driver: Any, dialect: Dialect) -> None:
        self.driver = driver
        self.dialect = dialect

    async def connection(self) -> DriverConnection:
        return self

    def __getattr__(self, name: str) -> Any:
        raise NeedsSession(f"AsyncConnection.{name}")


class DriverUnit:
    """A unit of work on asyncpg itself, standing in for an AsyncSession
    where an operation's every statement is a `DriverStatement` (quota-svc's
    reservations): `connection()` and `info`, nothing else. Without
    SQLAlchemy's session and connection around it a transaction costs about
    half the CPU (bench/RESULTS.md). Anything else raises NeedsSession, so
    an operation that takes a rare path (an ORM write, a Core statement)
    runs again in a session, with nothing of the first run kept."""

    def __init__(self, conn: DriverConnection) -> None:
        self._conn = conn
        self.info: dict[str, Any] = {}

    async def connection(self) -> DriverConnection:
        return self._conn

    def __getattr__(self, name: str) -> Any:
        raise NeedsSession(f"AsyncSession.{name}")


#: Transactions a `DriverChain` runs on one connection before it goes back to
#: its pool (so the pool's recycling and checks still see it).
CHAIN_MAX = 256


class DriverChain:
    """Transactions one after another on one asyncpg connection (连续事务),
    for a worker with more to write as soon as one commits (a hot pool's
    group commit). A COMMIT with a next transaction behind it goes with that
    BEGIN in one round trip (`commit(then_begin=True)`), and the connection
    stays checked out between them: a transaction costs one round trip and
    one pool checkout less. Each transaction is a `DriverUnit`; at most one
    is open at a time. Got from `Database.driver_chain()`."""

    def __init__(self, db: Database, driver: Any) -> None:
        self._db = db
        self._driver = driver
        #: BEGIN was sent (alone or after the last COMMIT) and no statement
        #: of its transaction has ended it since.
        self._begun = False
        self.transactions = 0

    async def begin(self) -> DriverUnit:
        """The next transaction, begun (no round trip if the last commit
        began it)."""
        if not self._begun:
            await self._driver.execute("BEGIN")
            self._begun = True
        return DriverUnit(DriverConnection(self._driver, self._db.engine.dialect))

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (the server ended the session)."""
        return bool(self._driver.is_closed())

    @property
    def begun(self) -> bool:
        """Whether a transaction of the chain is open (begun, by `begin` or
        by the last commit, and not yet committed or rolled back)."""
        return self._begun

    async def commit(self, unit: DriverUnit, *, then_begin: bool) -> None:
        """Commit `unit`'s transaction, and begin the next one in the same
        round trip if `then_begin`. If this raises, the transaction's outcome
        is the same as a failed COMMIT's (not applied, or in doubt if the
        connection broke); no next one was begun."""
        self._begun = False
        await self._driver.execute("COMMIT; BEGIN" if then_begin else "COMMIT")
        self._begun = then_begin
        self.transactions += 1
        self._db._committed(unit.info)

    async def rollback(self) -> None:
        """Undo the open transaction, if there is one (nothing of it kept). A
        connection that cannot roll back is closed: the server then undoes
        the transaction itself, and the pool throws the connection away."""
        self._begun = False
        if self._driver.is_closed() or not self._driver.is_in_transaction():
            return
        try:
            await self._driver.execute("ROLLBACK")
        except Exception as exc:
            log.warning("rollback failed; connection closed", error=repr(exc))
            self._driver.terminate()


async def transaction_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn`'s transaction, with that
    transaction begun on it, or None (not asyncpg, not in a transaction, or
    in autocommit). SQLAlchemy's asyncpg adapter sends BEGIN lazily with the
    first statement; beginning it here instead sends the same one BEGIN, so
    the first statement of a transaction may run on the driver too. The
    adapter's own begin is used (under its statement lock), so SQLAlchemy's
    COMMIT or ROLLBACK ends this transaction as ever. No greenlet either:
    the connection is read synchronously once established."""
    sync = conn.sync_connection
    if sync is None or sync.invalidated or sync.closed or not sync.in_transaction():
        return None
    adapted: Any = sync.connection.dbapi_connection
    driver = getattr(adapted, "driver_connection", None)
    if driver is None or driver.is_closed():
        return None
    if not driver.is_in_transaction():
        if getattr(adapted, "isolation_level", None) == "autocommit":
            return None
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
        if not driver.is_in_transaction():
            return None
    return driver


def _unfit(driver: Any) -> bool:
    """A driver connection the pool must not hand out again: broken, or
    still inside a transaction SQLAlchemy does not know of (its reset on
    return would not roll it back)."""
    return driver is None or driver.is_closed() or driver.is_in_transaction()


def _has_room(pool: Any) -> bool:
    """Whether a checkout from `pool` now would not wait: a connection idle
    in it, or room to open one more. (A pool that keeps no count: no.)"""
    try:
        if pool.checkedin() > 0:
            return True
        most = int(pool._max_overflow)
        return most == -1 or int(pool.overflow()) < most
    except (AttributeError, TypeError):
        return False


def _fit(pooled: Any) -> bool:
    """Whether a kept connection of `driver()` may be used again."""
    return not _unfit(pooled.driver_connection)


async def _throw_away(pooled: Any) -> None:
    """A connection of `driver()` that must not be handed out again: closed
    and dropped from the pool (its place freed for a new one)."""
    if pooled.is_valid:
        await greenlet_spawn(pooled.invalidate)
    await greenlet_spawn(pooled.close)


async def run_to_completion(cleanup: Coroutine[Any, Any, _T]) -> _T:
    """Await `cleanup` to its end even if the caller is cancelled meanwhile
    (again and again), then re-raise the cancellation. A clean-up cut short
    half way, a connection neither returned to its pool nor thrown away,
    leaks it: each cancellation would cost the pool one connection."""
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError as error:
            if task.done():  # the clean-up itself was cancelled: nothing to wait for
                raise
            cancelled = error
    if cancelled is not None:
        raise cancelled
    return result


async def session_driver(session: AsyncSession) -> Any:
    """The driver's connection under a session's transaction (asyncpg's; on
    SQLite aiosqlite's), for a bulk statement SQLAlchemy has no fast form of
    (COPY, a read of many rows as records; on SQLite a statement in one
    hand-off to the connection's thread) that must run inside that
    transaction. SQLAlchemy begins the transaction on the driver with its
    first statement, so one must have run in it before (a lock, a lookup);
    a statement sent here first would run outside it."""
    raw = await (await session.connection()).get_raw_connection()
    return raw.driver_connection


def driver_value(column_type: Any, dialect: Dialect, value: Any) -> Any:
    """`value` as SQLAlchemy's own statements store it in a column of
    `column_type` (the type's bind processor for this dialect, e.g. a UTC
    timestamp as text on SQLite), then, on SQLite, what the sqlite3 module
    makes of it. For a value repeated in every row of a bulk statement sent
    on the driver (`session_driver`), made once: an aware datetime handed to
    sqlite3 costs a call of its Python adapter per parameter, in SQLite's
    thread, holding the GIL (a 10,000-row import's two timestamps a row:
    20,000 calls). Held to SQLAlchemy's statements by test_driver_value."""
    bind = column_type.dialect_impl(dialect).bind_processor(dialect)
    value = bind(value) if bind else value
    if dialect.name == "sqlite":
        adapt = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
        if adapt is not None:
            value = adapt(value)
    return value


_NAMED_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:name), hashtext(:key))")


async def hold_lock(s: AsyncSession, name: str, key: str) -> None:
    """Take the lock of (`name`, `key`) until `s`'s transaction ends: writes of
    one thing that has no row to lock yet (a record about to be created, a
    filer's uploads, a table replaced whole) run one after the other, as
    they would if sent so. PostgreSQL: a transaction-level advisory lock.
    SQLite: nothing to do, its one writer at a time already serialises them."""
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(_NAMED_LOCK, {"name": name, "key": key})


async def hold_tables(s: AsyncSession, *tables: Table) -> None:
    """Keep every other writer of `tables` out until `s`'s transaction ends
    (reads go on): a write that decides on a whole table's contents (a
    restore into an empty ledger) sees them as they stay. A writer already
    under way is waited for, one coming later waits, so the two end as one
    after the other. PostgreSQL: SHARE ROW EXCLUSIVE, which no INSERT,
    UPDATE or DELETE shares and which excludes itself. SQLite: nothing to
    do, its one writer at a time already serialises them."""
    if tables and s.get_bind().dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        await s.execute(text(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE"))


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # JSON columns written in C, compact and not ASCII-escaped: an import's
    # outbox event carries thousands of rows (svc_common.fastjson).
    kwargs.setdefault("json_serializer", fastjson.dumps_text)
    # PostgreSQL's limits on waiting (settings: DB_LOCK_TIMEOUT_SECONDS,
    # DB_COMMAND_TIMEOUT_SECONDS, DB_CONNECT_TIMEOUT_SECONDS); SQLite waits
    # on its busy timeout below.
    lock_timeout = kwargs.pop("lock_timeout_seconds", None)
    command_timeout = kwargs.pop("command_timeout_seconds", None)
    connect_timeout = kwargs.pop("connect_timeout_seconds", None)
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
            # The sqlite3 module's own transactions begin only before a
            # write and are committed by a savepoint's release when the
            # savepoint came first (SQLite: releasing the outermost savepoint
            # is a COMMIT): a unit of work whose first block only read kept
            # its later block's writes however it ended. The module is told
            # to leave transactions alone, and every one begins with BEGIN
            # (SQLAlchemy's documented recipe for SQLite's savepoints).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    if url.startswith("postgresql+asyncpg"):
        # A copy: the caller's arguments are left as they were given.
        connect_args = dict(kwargs.get("connect_args") or {})
        if command_timeout is not None:
            # asyncpg's default for every statement on the connection, its
            # own and SQLAlchemy's: past it, the statement is cancelled and
            # TimeoutError raised (transient: 503, an event retried).
            connect_args.setdefault("command_timeout", command_timeout)
        if connect_timeout is not None:
            connect_args.setdefault("timeout", connect_timeout)
        if lock_timeout is not None:
            # The server's, for each lock wait: SQLSTATE 55P03, transient.
            server = dict(connect_args.get("server_settings") or {})
            server.setdefault("lock_timeout", f"{round(lock_timeout * 1000)}ms")
            connect_args["server_settings"] = server
        kwargs["connect_args"] = connect_args
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    if kwargs.get("poolclass") is NullPool:
        kwargs.pop("pool_size")
        kwargs.pop("max_overflow")
    else:
        # Last in, first out: the connection just returned is the next one
        # handed out, so a few hot connections serve the steady traffic and
        # keep their prepared statements warm; the rest sit idle.
        kwargs.setdefault("pool_use_lifo", True)
        if connect_timeout is not None:
            # Waiting for a pooled connection is bounded as opening one is:
            # with every connection stuck on a server that stopped answering,
            # a request is answered 503 then, not after SQLAlchemy's 30 s.
            kwargs.setdefault("pool_timeout", connect_timeout)
    ping_idle = kwargs.pop("ping_idle_seconds", PING_IDLE_SECONDS)
    engine = create_async_engine(url, **kwargs)
    _unreachable_when_connect_fails(engine)
    if not kwargs.get("pool_pre_ping") and kwargs.get("poolclass") is not NullPool:
        _ping_when_idle(engine, ping_idle, within=connect_timeout or CHECK_WITHIN_SECONDS)
    return engine


def _unreachable_when_connect_fails(engine: AsyncEngine) -> None:
    """A connection that cannot be opened raises `DatabaseUnreachable`, on
    every path that opens one (sessions, the driver's statements, the pool's
    replacement of a connection found dead). PostgreSQL answers some refusals
    with SQLSTATEs that are not connection errors — 55000 for a database not
    accepting connections, 3D000 for one that does not exist, 28P01 for a
    password it refuses — and those were answered 500, and counted against
    an event's attempts as the event's own fault."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as error:
            raise DatabaseUnreachable(f"cannot connect to the database: {error!r}") from error


#: A pooled connection idle longer than this is checked before it is handed
#: out. SQLAlchemy's pool_pre_ping checks every checkout, and on asyncpg its
#: check is three round trips (BEGIN, a query, ROLLBACK): more than the
#: transactions of an event hop themselves. A connection back in the pool a
#: moment ago is not checked: PostgreSQL restarting in between (stop and
#: start within this second) costs at worst one failed unit of work, a 503 or
#: a transient failure retried, after which SQLAlchemy discards the whole
#: pool's older connections, as on any disconnect it sees (one found by a
#: statement on the driver itself closes that connection only).
PING_IDLE_SECONDS = 1.0


#: How long the check of a pooled connection (and `Database.fetch_alone`'s
#: statement) may go unanswered when no connect timeout was given: the
#: settings' default DB_CONNECT_TIMEOUT_SECONDS.
CHECK_WITHIN_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float, within: float) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _handed_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # new, or in use a moment ago
        driver: Any = getattr(dbapi_conn, "driver_connection", None)
        on_asyncpg = engine.dialect.driver == "asyncpg" and driver is not None
        try:
            if on_asyncpg:
                # One round trip, outside any transaction, bounded as opening
                # a connection is: under the statements' own timeout (300 s)
                # a paused server kept every request waiting for it.
                await_only(driver.fetchrow(";", timeout=within))
            else:
                dbapi_conn.ping()
        except TimeoutError as error:
            # The server holds the connection open and does not answer: no
            # other connection would fare better (a new one waits as long to
            # open), so the unit of work fails now, as transient (503 with
            # Retry-After). Aborted here, the pool's invalidation does not
            # wait on a graceful close either.
            if on_asyncpg:
                driver.terminate()
            raise DatabaseUnreachable(
                f"the database did not answer a pooled connection's check within {within} s"
            ) from error
        except Exception as error:
            # The pool throws this connection away and hands out another.
            raise exc.DisconnectionError(repr(error)) from error


class ReadOnlySession(RuntimeError):
    """A read session was asked to write, lock rows or hold a cursor."""


class ReadSession(Session):
    """The session `Database.session()` gives outside a unit of work. On
    PostgreSQL it runs in autocommit, where a write would be kept at once, a
    row lock released at once and a server-side cursor cannot be opened, so
    those are refused here on every database, before anything is sent."""


@event.listens_for(ReadSession, "do_orm_execute")
def _read_only(state: ORMExecuteState) -> None:
    # (A text() statement is opaque: it is let through.)
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySession("a read session does not write: use Database.transaction()")
    if getattr(state.statement, "_for_update_arg", None) is not None:
        raise ReadOnlySession("a read session locks no rows: use Database.transaction()")
    options = state.execution_options
    if options.get("yield_per") or options.get("stream_results"):
        raise ReadOnlySession("a read session streams no rows: use Database.transaction()")


@event.listens_for(ReadSession, "before_flush")
def _nothing_to_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySession("a read session does not write: use Database.transaction()")


class Unit:
    """A request's unit of work: one session, one transaction. The session
    is made when first asked for: a write whose effect commits in a group
    commit of its own (svc_common.batching) never touches it, and then
    committing or closing it costs nothing."""

    def __init__(self, make: Callable[[], AsyncSession]) -> None:
        self._make = make
        self._session: AsyncSession | None = None
        #: A transaction() block completed in it: later blocks use savepoints
        #: so their failure does not undo what the first one kept.
        self.kept = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._make()
        return self._session

    @property
    def begun(self) -> bool:
        """Whether it holds a transaction (nothing has run in it otherwise)."""
        return self._session is not None and self._session.in_transaction()

    def holds(self, session: object) -> bool:
        """Whether `session` is this unit's (a `transaction()` that joined it)."""
        return self._session is not None and session is self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


#: How long `Database.ping` waits for an answer.
PING_WITHIN_SECONDS = 5.0


class Database:
    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads on PostgreSQL run in autocommit: no BEGIN and ROLLBACK round
        # trips around them (on asyncpg a one-row read is then one round trip
        # instead of three). What a read sees does not change: at READ
        # COMMITTED, the level every transaction here runs at, each statement
        # takes its own snapshot anyway.
        reads = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.is_postgres
            else self.engine
        )
        self._read_sessionmaker = async_sessionmaker(
            reads, expire_on_commit=False, sync_session_class=ReadSession
        )
        #: How long a statement that answers at once when the server does (a
        #: lookup by key, one row's insert: `fetch_alone`) may go unanswered:
        #: as long as a connection may take to open, or a lock to be waited
        #: for, whichever is longer.
        self.answer_within = max(
            engine_kwargs.get("connect_timeout_seconds") or CHECK_WITHIN_SECONDS,
            engine_kwargs.get("lock_timeout_seconds") or 0.0,
        )
        # A read of several statements that must agree with one another
        # (`snapshot()`): on PostgreSQL one READ ONLY REPEATABLE READ
        # transaction (asyncpg begins it so in its one BEGIN); on SQLite the
        # session's own transaction, whose first read fixes its snapshot.
        snapshots = (
            self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            if self.is_postgres
            else self.engine
        )
        self._snapshot_sessionmaker = async_sessionmaker(
            snapshots, expire_on_commit=False, sync_session_class=ReadSession
        )
        # SQLite has one writer per file; serialising writers in-process avoids
        # "database is locked" storms under concurrent requests.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._commit_listeners: list[Callable[[], None]] = []
        self._direct_sinks: list[Callable[[list[Any]], None]] = []
        self._unit: ContextVar[Unit | None] = ContextVar(f"unit-{id(self)}", default=None)
        self._helpers: dict[str, Any] = {}
        #: Connections `driver()` keeps a moment between uses (svc_common.warm_connections).
        self.warm = WarmConnections(self._give_back)

    def helper(self, name: str, make: Callable[[], _T]) -> _T:
        """The database's one `name` helper (statements sent together,
        svc_common.batching), made on first use. Kept on the database, so
        it lives and goes with it (a registry beside it, keyed weakly by
        the database, was kept alive by its own values)."""
        found = self._helpers.get(name)
        if found is None:
            found = self._helpers[name] = make()
        return cast(_T, found)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def on_asyncpg(self) -> bool:
        """PostgreSQL through asyncpg: `driver()` and `DriverStatement` work."""
        return self.is_postgres and self.engine.dialect.driver == "asyncpg"

    def on_outbox_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each commit that wrote outbox rows for a
        relay to claim."""
        self._commit_listeners.append(callback)

    def on_outbox_direct(self, sink: Callable[[list[Any]], None]) -> None:
        """Hand `sink` the rows a commit wrote for its own process's relay
        to publish at once (`OUTBOX_DIRECT`), after the commit."""
        self._direct_sinks.append(sink)

    def _committed(self, info: dict[str, Any]) -> None:
        """After a commit: hand the relay what the transaction wrote for it
        to publish at once, wake it if it wrote rows to claim, and call
        what was to follow the commit (AFTER_COMMIT)."""
        for done in info.pop(AFTER_COMMIT, ()):
            done()
        if direct := info.pop(OUTBOX_DIRECT, None):
            for sink in self._direct_sinks:
                sink(direct)
        if info.pop(OUTBOX_WRITTEN, False):
            for callback in self._commit_listeners:
                callback()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (`ReadSession`: on PostgreSQL in autocommit;
        writes, row locks and streamed results are refused). Within a
        request's unit of work it is that unit's session (reads see the
        request's own writes)."""
        unit = self._unit.get()
        if unit is not None:
            yield unit.session
            return
        async with self._read_sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A read session whose statements all see one snapshot (一致快照):
        what was committed when its first statement ran, nothing committed
        after. For a read of several statements whose results must agree
        with one another while writers go on (quota-svc's reconciliation
        and its ledger export): `session()` runs each statement on its own
        snapshot on PostgreSQL, so a write committed between two of them
        shows in the second and not the first. PostgreSQL: one READ ONLY
        REPEATABLE READ transaction (never a serialization failure, never a
        row lock; it holds back vacuum while it lasts, so keep it to one
        read). SQLite: one read transaction (BEGIN; in WAL mode its first
        read fixes what it sees, and writers go on beside it). Writes, row
        locks and streamed results are refused, as in `session()`. Never
        the request's unit of work: it sees only what is committed."""
        async with self._snapshot_sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One atomic unit of work; commits on success, rolls back on error.
        Within a request's unit of work it joins it: nothing commits before
        the request's answer is ready, and a failed block is undone alone."""
        unit = self._unit.get()
        if unit is not None:
            async with self._joined(unit) as session:
                yield session
        elif self._write_lock is not None:
            async with self._write_lock, self._transaction() as session:
                yield session
        else:
            async with self._transaction() as session:
                yield session

    @asynccontextmanager
    async def _joined(self, unit: Unit) -> AsyncIterator[AsyncSession]:
        session = unit.session
        if unit.kept:
            # Savepoint: undo this block alone if it fails.
            async with session.begin_nested():
                yield session
            return
        # The first block needs no savepoint: if it fails, nothing else was
        # kept, so the whole unit is rolled back (and may start again).
        try:
            yield session
            await session.flush()  # surface constraint errors inside the block
        except BaseException:
            await session.rollback()
            session.info.pop(OUTBOX_WRITTEN, None)
            session.info.pop(AFTER_COMMIT, None)
            raise
        unit.kept = True

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Unit]:
        """A request's unit of work. The caller commits it with `commit`;
        anything not committed is rolled back at the end. On SQLite it holds
        the process's write lock for its duration."""
        if self._write_lock is not None:
            await self._write_lock.acquire()
        unit = Unit(self.sessionmaker)
        token = self._unit.set(unit)
        try:
            yield unit
        finally:
            self._unit.reset(token)
            try:
                await unit.close()
            finally:
                if self._write_lock is not None:
                    self._write_lock.release()

    def leave_unit(self) -> None:
        """In the current context, stop joining the request's unit of work
        (run inside a copied context, e.g. by `batching.GroupCommit`)."""
        self._unit.set(None)

    async def commit(self, unit: Unit) -> None:
        """Commit a request's unit of work and wake the relay if it emitted."""
        if not unit.begun:
            return  # nothing ran in it
        await unit.session.commit()
        self._committed(unit.session.info)

    async def rollback(self, unit: Unit) -> None:
        unit.kept = False
        if not unit.begun:
            return
        await unit.session.rollback()
        unit.session.info.pop(OUTBOX_WRITTEN, None)
        unit.session.info.pop(AFTER_COMMIT, None)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
            self._committed(session.info)

    @asynccontextmanager
    async def driver_unit(self) -> AsyncIterator[DriverUnit]:
        """PostgreSQL on asyncpg: one transaction on the driver, committed
        when the block ends, rolled back if it raises (see DriverUnit); the
        relay is woken after a commit that wrote outbox rows."""
        async with self.driver() as driver, driver.transaction():
            unit = DriverUnit(DriverConnection(driver, self.engine.dialect))
            yield unit
        self._committed(unit.info)

    @asynccontextmanager
    async def driver_chain(self) -> AsyncIterator[DriverChain]:
        """PostgreSQL on asyncpg: one connection for transactions one after
        another (see DriverChain). A transaction still open when the block
        ends (begun for a next that did not come) is rolled back; left by an
        exception, the connection goes back to the pool only if it is open
        and out of any transaction, and is thrown away otherwise (`driver()`)."""
        async with self.driver() as driver:
            chain = DriverChain(self, driver)
            yield chain
            await chain.rollback()

    async def fetch_alone(
        self, statement: DriverStatement, params: dict[str, Any]
    ) -> list[Sequence[Any]]:
        """One statement that needs no transaction around it, and its rows:
        a lookup by key, or on PostgreSQL one insert that is atomic alone.
        On PostgreSQL in autocommit on the driver itself: one round trip
        instead of BEGIN, the statement and COMMIT. On SQLite through a
        plain connection (a write there would wait for the process's write
        lock, which a request's unit of work holds: do not write with it).
        On PostgreSQL the statement waits at most `answer_within` seconds:
        a lookup by key or one row's insert, which a queue of callers may
        wait behind (svc_common.batching's lookups and inserts sent
        together), so a server that stopped answering fails them all within
        seconds, not after the statements' own timeout."""
        if self.on_asyncpg:
            async with self.driver() as conn:
                return await statement.fetch(self, conn, params, within=self.answer_within)
        async with self.engine.connect() as conn:
            result = await conn.execute(statement.statement, params)
            rows: list[Sequence[Any]] = list(result.all()) if result.returns_rows else []
            await conn.commit()
            return rows

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[Any]:
        """PostgreSQL: the asyncpg connection itself, checked out of the
        engine's pool (so the pool's limits and idle ping apply), in
        autocommit unless the caller opens `transaction()` on it. For the
        shared mechanisms' hottest statements (`DriverStatement`); a
        connection that broke under them is thrown away, not pooled again.
        One given back fit is kept a moment for the next use instead of
        going back to the pool at once (`warm`, svc_common.warm_connections)."""
        if not self.on_asyncpg:
            raise RuntimeError("Database.driver() is for PostgreSQL on asyncpg only")
        # The pool's own checkout and checkin, one greenlet each: a third of
        # the CPU of an AsyncConnection around it (bench/RESULTS.md).
        pool = self.engine.pool
        taken = self.warm.take(pool, _fit)
        if taken is not None:
            pooled, out_since = taken
        else:
            pooled = await greenlet_spawn(self.engine.sync_engine.raw_connection)
            out_since = asyncio.get_running_loop().time()
        driver = pooled.driver_connection
        # Cancelled mid-statement, the connection's state is unknown: throw it away.
        broken = True
        try:
            yield driver
            broken = False
        except Exception as error:
            # Still open, but the server has ended its session: not pooled
            # again. Nor one whose statement ran out of time: asyncpg may
            # still be cancelling it (on a server that stopped answering,
            # for good); aborted now, it costs no wait for a graceful close.
            broken = is_stuck_connection(error)
            if isinstance(error, TimeoutError):
                driver.terminate()
                broken = True
            raise
        finally:
            # A pool disposed of meanwhile (the server stopping while a group
            # commit's chain waited) would keep a connection given back to it
            # open and unused (a QueuePool puts it in its queue): close it.
            if broken or _unfit(driver) or self.engine.pool is not pool:
                await run_to_completion(_throw_away(pooled))
            elif not self.warm.keep(pooled, pool, out_since, pool_has_room=_has_room(pool)):
                # A fit connection goes back to the pool without a round trip,
                # so nothing here waits for the server: no task to shield it
                # (7.5 µs a use on uvloop). (An overflow connection is
                # closed, which awaits; cut short there, asyncpg aborts it
                # and the pool still counts it returned.)
                await greenlet_spawn(pooled.close)

    def connections_in_use(self) -> int:
        """Connections of the pool checked out for work: the pool's count
        without those `driver()` keeps a moment between uses (idle)."""
        pool = self.engine.pool
        return int(pool.checkedout()) - self.warm.of(pool)  # type: ignore[attr-defined]

    async def _give_back(self, pooled: Any, pool: object) -> None:
        """A connection `driver()` kept (svc_common.warm_connections) back to
        `pool`; closed instead if it is no longer fit or `pool` was disposed of."""
        if _unfit(pooled.driver_connection) or self.engine.pool is not pool:
            await _throw_away(pooled)
        else:
            await greenlet_spawn(pooled.close)

    async def ping(self, within: float = PING_WITHIN_SECONDS) -> bool:
        """Whether the database answers a statement within `within` seconds
        (readiness, the metrics' up gauge): a server that stopped answering
        is down now, not after the statements' own timeout."""
        try:
            async with asyncio.timeout(within):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        # Helpers that keep connections checked out (spare chains) give
        # them back first.
        for found in list(self._helpers.values()):
            aclose = getattr(found, "aclose", None)
            if callable(aclose):
                await aclose()
        await self.warm.aclose()
        await self.engine.dispose()


#: Keys per `IN (…)` list when rows are read by a long list of keys: well
#: under SQLite's bound on one statement's parameters (999 before 3.32).
IN_LIST_CHUNK = 500


def in_chunks(keys: Sequence[_T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[_T]]:
    """`keys` in consecutive slices of at most `size`, one `IN (…)` list each."""
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def dialect_insert(
    where: AsyncSession | AsyncConnection, table: Any
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT: PostgreSQL and SQLite spell it the
    same, but each dialect has its own construct; pick the one `where` runs on."""
    dialect = where.dialect if isinstance(where, AsyncConnection) else where.get_bind().dialect
    return (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table)


class CommonBase(DeclarativeBase):
    """Declarative base of the tables every service has: outbox, inbox,
    idempotency keys and audit trail. Each service has its own base for its
    domain tables; these live once here and are created by each service's
    first migration."""
