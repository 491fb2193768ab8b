"""A request's unit of work (`Database.unit_of_work`) keeps all of its blocks
or none, on SQLite as on PostgreSQL: a later block is a savepoint, and a
savepoint is no commit, whatever the blocks before it did."""

from __future__ import annotations

from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from svc_common.db import Database


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(32))


async def _db(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return db


async def _notes(db: Database) -> list[int]:
    async with db.session() as s:
        return list((await s.execute(select(Note.id).order_by(Note.id))).scalars())


async def test_a_unit_not_committed_keeps_no_block_even_after_one_that_only_read(
    db_url: str,
) -> None:
    """The first block only reads; the second writes in a savepoint; the
    request then fails before its unit commits. On SQLite the savepoint was
    the transaction's first statement, and its release committed the write
    (SQLite: releasing the outermost savepoint is a COMMIT)."""
    db = await _db(db_url)
    async with db.unit_of_work():
        async with db.transaction() as s:
            assert await s.scalar(select(func.count()).select_from(Note)) == 0
        async with db.transaction() as s:
            s.add(Note(id=1, text="kept only with the unit"))
        # the request fails here: its unit is not committed
    assert await _notes(db) == []
    async with db.unit_of_work() as unit:
        async with db.transaction() as s:
            await s.scalar(select(func.count()).select_from(Note))
        async with db.transaction() as s:
            s.add(Note(id=2, text="committed with the unit"))
        await db.commit(unit)
    assert await _notes(db) == [2]
    await db.dispose()


async def test_a_savepoint_released_is_undone_with_its_transaction(db_url: str) -> None:
    """A savepoint opened before any write (the transaction's first
    statement) and released: rolling the transaction back undoes its writes."""
    db = await _db(db_url)
    try:
        async with db.transaction() as s:
            await s.scalar(select(func.count()).select_from(Note))
            async with s.begin_nested():
                s.add(Note(id=3, text="inside"))
            raise LookupError("the rest of the transaction fails")
    except LookupError:
        pass
    assert await _notes(db) == []
    await db.dispose()


async def test_a_snapshot_sees_one_moment_while_writes_commit(db_url: str) -> None:
    """`Database.snapshot()`: every statement sees what was committed when
    its first ran; a write committed between two statements shows in
    neither (a plain read session on PostgreSQL shows it in the second),
    nor does it join a request's unit of work, and it writes nothing."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from svc_common.db import ReadOnlySession

    db = await _db(db_url)
    async with db.transaction() as s:
        s.add(Note(id=1, text="before"))
    async with db.unit_of_work(), db.snapshot() as snap:
        assert await snap.scalar(select(func.count()).select_from(Note)) == 1
        async with db.transaction() as s:
            s.add(Note(id=2, text="in the unit, not committed"))
        async with db.session() as s:
            assert await s.scalar(select(func.count()).select_from(Note)) == 2
        assert await snap.scalar(select(func.count()).select_from(Note)) == 1
    async with db.snapshot() as snap:
        assert await snap.scalar(select(func.count()).select_from(Note)) == 1
        async with db.transaction() as s:
            s.add(Note(id=3, text="committed meanwhile"))
        assert await _notes(db) == [1, 3]
        assert (await snap.execute(select(Note.id).order_by(Note.id))).scalars().all() == [1]
        snap.add(Note(id=4, text="refused"))
        with pytest.raises(ReadOnlySession):
            await snap.flush()
    if db.is_postgres:
        async with db.snapshot() as snap:
            # A text() write passes the session's check; the server refuses it.
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await snap.execute(text("INSERT INTO notes (id, text) VALUES (5, 'x')"))
    assert await _notes(db) == [1, 3]
    await db.dispose()
