"""Statements run on asyncpg itself (`DriverStatement`) keep what SQLAlchemy
would have done with their parameters, and refuse what they cannot run."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from svc_common.db import Database, DriverStatement, ReadOnlySession
from svc_common.idempotency import _LOOKUP
from svc_common.tables import OutboxRow
from svc_common.types import utcnow

_OUTBOX = OutboxRow.__table__
_SENT_SINCE = DriverStatement(
    select(_OUTBOX.c.seq).where(
        _OUTBOX.c.sent_at >= bindparam("since", type_=_OUTBOX.c.sent_at.type)
    )
)


async def _db(pg_url: str) -> Database:
    db = Database(pg_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(OutboxRow.metadata.create_all)
    return db


@pytest.mark.pg
async def test_a_column_type_still_checks_its_value(pg_url: str) -> None:
    db = await _db(pg_url)
    try:
        assert await db.fetch_alone(_SENT_SINCE, {"since": utcnow()}) == []
        # UTCDateTime refuses a naive time, on the driver as through SQLAlchemy.
        with pytest.raises(ValueError, match="naive"):
            await db.fetch_alone(_SENT_SINCE, {"since": dt.datetime(2026, 1, 1)})
    finally:
        await db.dispose()


@pytest.mark.pg
async def test_an_expanding_list_is_refused_not_sent(pg_url: str) -> None:
    db = await _db(pg_url)
    expanding = DriverStatement(
        select(_OUTBOX.c.seq).where(_OUTBOX.c.seq.in_(bindparam("seqs", expanding=True)))
    )
    try:
        with pytest.raises(ValueError, match="expanding"):
            await db.fetch_alone(expanding, {"seqs": [1, 2]})
        assert await db.fetch_alone(_LOOKUP, {"owner": "o", "key": "k"}) == []
    finally:
        await db.dispose()


@pytest.mark.pg
async def test_an_in_list_written_in_the_statement_is_expanded_once(pg_url: str) -> None:
    """`column.in_(CONSTANTS)` runs on the driver as one parameter per value,
    beside a parameter given per run, and finds what SQLAlchemy finds."""
    db = await _db(pg_url)
    picked = (
        select(_OUTBOX.c.event_id)
        .where(_OUTBOX.c.topic.in_(("t1", "t3")), _OUTBOX.c.key == bindparam("key"))
        .order_by(_OUTBOX.c.event_id)
    )
    statement = DriverStatement(picked)
    try:
        async with db.transaction() as s:
            for i, (topic, key) in enumerate([("t1", "k"), ("t2", "k"), ("t3", "k"), ("t3", "x")]):
                await s.execute(
                    insert(_OUTBOX).values(
                        event_id=f"e{i}",
                        topic=topic,
                        key=key,
                        event_type="e.v1",
                        envelope={},
                        created_at=utcnow(),
                    )
                )
        on_driver = await db.fetch_alone(statement, {"key": "k"})
        assert type(on_driver[0]).__module__.startswith("asyncpg")
        assert [r["event_id"] for r in on_driver] == ["e0", "e2"]
        async with db.session() as s:
            assert (await s.execute(picked, {"key": "k"})).scalars().all() == ["e0", "e2"]
        assert [r["event_id"] for r in await db.fetch_alone(statement, {"key": "x"})] == ["e3"]
    finally:
        await db.dispose()


@pytest.mark.pg
async def test_an_in_list_leaves_the_other_parameters_checked(pg_url: str) -> None:
    """Beside an expanded IN list, a column type still checks its value:
    UTCDateTime refuses a naive time, as through SQLAlchemy."""
    db = await _db(pg_url)
    statement = DriverStatement(
        select(_OUTBOX.c.seq).where(
            _OUTBOX.c.topic.in_(("t1", "t2")),
            _OUTBOX.c.sent_at >= bindparam("since", type_=_OUTBOX.c.sent_at.type),
        )
    )
    try:
        assert await db.fetch_alone(statement, {"since": utcnow()}) == []
        with pytest.raises(ValueError):
            await db.fetch_alone(statement, {"since": dt.datetime(2026, 1, 1)})
    finally:
        await db.dispose()


_ADD = DriverStatement(
    insert(_OUTBOX)
    .values(
        event_id=bindparam("event_id"),
        topic="t",
        key="k",
        event_type="e.v1",
        envelope={},
        created_at=bindparam("at", type_=_OUTBOX.c.created_at.type),
    )
    .returning(_OUTBOX.c.seq)
)
_COUNT = select(func.count()).select_from(_OUTBOX)


async def _count(db: Database) -> int:
    async with db.transaction() as s:
        return int((await s.execute(_COUNT)).scalar_one())


@pytest.mark.parametrize("db_url", ["sqlite", "pg"], indirect=True)
async def test_a_statement_in_a_transaction_is_part_of_it(db_url: str) -> None:
    """`fetch_in` runs in the caller's transaction (on asyncpg on the driver,
    the first statement of a transaction too: the transaction is begun there
    first): what it wrote goes with a rollback, and a violated constraint is
    SQLAlchemy's IntegrityError on both paths."""
    db = await _db(db_url)
    try:
        with pytest.raises(RuntimeError, match="undo"):
            async with db.transaction() as s:
                conn = await s.connection()
                # The first statement of the transaction.
                first = await _ADD.fetch_in(conn, {"event_id": "a", "at": utcnow()})
                second = await _ADD.fetch_in(conn, {"event_id": "b", "at": utcnow()})
                assert [len(first), len(second)] == [1, 1]
                # On PostgreSQL both ran on the driver itself.
                for rows in (first, second):
                    on_driver = type(rows[0]).__module__.startswith("asyncpg")
                    assert on_driver == db.is_postgres
                assert second[0][0] > first[0][0]
                assert (await conn.execute(_COUNT)).scalar_one() == 2
                raise RuntimeError("undo")
        assert await _count(db) == 0
        for begun in (False, True):
            with pytest.raises(IntegrityError):
                async with db.transaction() as s:
                    conn = await s.connection()
                    if begun:
                        await conn.execute(_COUNT)
                    await _ADD.fetch_in(conn, {"event_id": "c", "at": utcnow()})
                    await _ADD.fetch_in(conn, {"event_id": "c", "at": utcnow()})
        assert await _count(db) == 0
        async with db.transaction() as s:
            await _ADD.fetch_in(await s.connection(), {"event_id": "d", "at": utcnow()})
        assert await _count(db) == 1
    finally:
        await db.dispose()


@pytest.mark.pg
async def test_the_driver_joins_only_a_transaction_sqlalchemy_holds(pg_url: str) -> None:
    """Where SQLAlchemy holds no transaction yet, `fetch_in` does not begin
    one on the driver that SQLAlchemy's commit would not end: it runs through
    SQLAlchemy, which begins (or, in autocommit, keeps it at once)."""
    db = await _db(pg_url)
    try:
        auto = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with auto.connect() as conn:
            rows = await _ADD.fetch_in(conn, {"event_id": "auto", "at": utcnow()})
            assert not type(rows[0]).__module__.startswith("asyncpg")
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None and not driver.is_in_transaction()
        assert await _count(db) == 1
        async with db.engine.connect() as conn:  # SQLAlchemy begins on first use
            rows = await _ADD.fetch_in(conn, {"event_id": "autobegun", "at": utcnow()})
            assert not type(rows[0]).__module__.startswith("asyncpg")
            await conn.commit()
        assert await _count(db) == 2
    finally:
        await db.dispose()


async def test_a_read_session_holds_no_transaction(pg_url: str) -> None:
    """On PostgreSQL `Database.session()` reads in autocommit: each statement
    is its own transaction (its `now()` is its own start), so no BEGIN and
    ROLLBACK are sent around a read. `transaction()` still holds one."""
    db = await _db(pg_url)
    try:
        now = select(func.now())
        async with db.session() as s:
            first = await s.scalar(now)
            await s.execute(select(func.pg_sleep(0.01)))
            assert await s.scalar(now) > first
        async with db.transaction() as s:
            first = await s.scalar(now)
            await s.execute(select(func.pg_sleep(0.01)))
            assert await s.scalar(now) == first
    finally:
        await db.dispose()


@pytest.mark.parametrize("db_url", ["sqlite", "pg"], indirect=True)
async def test_a_read_session_refuses_writes_locks_and_cursors(db_url: str) -> None:
    """In autocommit a write would be kept at once and a lock released at
    once: a read session refuses them (on both databases), and a streamed
    result, which needs a transaction on asyncpg."""
    db = await _db(db_url)
    try:
        refused = [
            lambda s: s.execute(_ADD.statement, {"event_id": "r", "at": utcnow()}),
            lambda s: s.execute(select(_OUTBOX).with_for_update()),
            lambda s: s.stream(select(_OUTBOX)),
            lambda s: s.execute(select(_OUTBOX).execution_options(yield_per=10)),
        ]
        for attempt in refused:
            with pytest.raises(ReadOnlySession):
                async with db.session() as s:
                    await attempt(s)
        with pytest.raises(ReadOnlySession):
            async with db.session() as s:
                s.add(
                    OutboxRow(
                        event_id="o",
                        topic="t",
                        key="k",
                        event_type="e.v1",
                        envelope={},
                        created_at=utcnow(),
                    )
                )
                await s.flush()
        assert await _count(db) == 0
        async with db.session() as s:  # a plain read still reads
            assert (await s.execute(_COUNT)).scalar_one() == 0
        async with db.transaction() as s:  # and a transaction still writes
            await s.execute(_ADD.statement, {"event_id": "w", "at": utcnow()})
        assert await _count(db) == 1
    finally:
        await db.dispose()


def test_a_list_fixed_in_the_statement_takes_no_values_with_a_run() -> None:
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    fixed = DriverStatement(
        select(_OUTBOX.c.seq).where(
            _OUTBOX.c.topic.in_(bindparam("topics", value=["t1", "t2"], expanding=True)),
            _OUTBOX.c.key == bindparam("key"),
        )
    )
    sql, args = fixed.bound(dialect(), {"key": "k"})
    assert args == ["k", "t1", "t2"] and "IN ($2" in sql
    with pytest.raises(ValueError, match="topics"):
        fixed.bound(dialect(), {"key": "k", "topics": ["t9"]})


def test_a_run_binds_each_parameter_given_or_carried_in_order() -> None:
    """The values of $1, $2, … in order: given ones, the statement's own
    (`attempts + 1`), each through its column's processor; a given value
    wins over a carried one, and a missing one is named."""
    from sqlalchemy import update
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    mark = DriverStatement(
        update(_OUTBOX)
        .where(_OUTBOX.c.seq == bindparam("row_seq"))
        .values(
            attempts=_OUTBOX.c.attempts + 1,
            last_error=bindparam("error"),
            sent_at=bindparam("now", type_=_OUTBOX.c.sent_at.type),
        )
    )
    now = utcnow()
    sql, args = mark.bound(dialect(), {"row_seq": 7, "error": "e", "now": now})
    names = [n for n in ("attempts", "last_error", "sent_at", "seq") if n in sql]
    assert len(args) == sql.count("$") == 4 and names
    assert sorted(map(repr, args)) == sorted(map(repr, [1, "e", now, 7]))
    # The order is the statement's: $n takes args[n - 1].
    assert args.index(7) > args.index("e")
    with pytest.raises(ValueError, match="naive"):
        mark.bound(dialect(), {"row_seq": 7, "error": "e", "now": dt.datetime(2026, 1, 1)})
    with pytest.raises(ValueError, match="'error'"):
        mark.bound(dialect(), {"row_seq": 7, "now": now})
    # Extra values are left out; a carried value given with the run is taken.
    carried = next(k for k, v in mark._sql(dialect()).carried.items() if v == 1)
    _, given = mark.bound(dialect(), {"row_seq": 7, "error": None, "now": now, carried: 5, "x": 0})
    assert 5 in given and 1 not in given and None in given
    one = DriverStatement(select(_OUTBOX.c.seq).where(_OUTBOX.c.key == bindparam("key")))
    assert one.bound(dialect(), {"key": "k"})[1] == ["k"]
    none = DriverStatement(select(_OUTBOX.c.seq))
    assert none.bound(dialect(), {})[1] == []


@pytest.mark.pg
async def test_a_row_is_read_by_attribute_whichever_path_it_came_by(pg_url: str) -> None:
    from svc_common.db import by_attribute

    db = await _db(pg_url)
    stmt = DriverStatement(select(_OUTBOX.c.seq, _OUTBOX.c.key).where(_OUTBOX.c.key == "k"))
    try:
        async with db.transaction() as s:
            await s.execute(
                insert(_OUTBOX),
                {"event_id": "e", "topic": "t", "key": "k", "event_type": "x", "envelope": {}},
            )
        (record,) = await db.fetch_alone(stmt, {})  # an asyncpg Record
        async with db.session() as s:
            (row,) = (await s.execute(stmt.statement)).all()  # a SQLAlchemy Row
        for found in (record, row):
            read = by_attribute(found)
            assert (read.key, read.seq) == ("k", found[0])
            with pytest.raises(AttributeError):
                _ = read.topic
    finally:
        await db.dispose()
