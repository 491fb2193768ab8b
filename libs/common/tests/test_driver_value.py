"""`db.driver_value` makes once the value a bulk statement on the driver
repeats in every row (an import's timestamps): on SQLite it must be stored
exactly as SQLAlchemy's own statement stores the same value (the column
type's bind processor, then sqlite3's adapter), byte for byte."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import driver_value, make_engine, session_driver
from svc_common.types import UTCDateTime

_TABLE = Table(
    "stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
)

aware = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-5))]
    ),
)


async def _stored_both_ways(path: Path, values: list[dt.datetime]) -> list[tuple[object, object]]:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_TABLE.metadata.create_all)
        async with AsyncSession(engine) as s, s.begin():
            conn = await s.connection()
            column_type = _TABLE.c.at.type
            for i, v in enumerate(values):
                await s.execute(insert(_TABLE).values(id=2 * i, at=v))
            driver = await session_driver(s)
            for i, v in enumerate(values):
                await driver.execute_fetchall(
                    "INSERT INTO stamps (id, at) VALUES (?, ?)",
                    (2 * i + 1, driver_value(column_type, conn.dialect, v)),
                )
            rows = (
                await s.execute(text("SELECT id, typeof(at), CAST(at AS BLOB) FROM stamps"))
            ).all()
    finally:
        await engine.dispose()
    by_id = {i: (kind, raw) for i, kind, raw in rows}
    return [(by_id[2 * i], by_id[2 * i + 1]) for i in range(len(values))]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(aware, min_size=1, max_size=8))
async def test_sqlite_stores_what_sqlalchemy_stores(tmp_path: Path, values: list[dt.datetime]):
    for orm, ours in await _stored_both_ways(tmp_path / f"{uuid.uuid4().hex}.db", values):
        assert ours == orm


async def test_whole_seconds_and_microseconds(tmp_path: Path) -> None:
    values = [
        # sqlite3's adapter (isoformat) would leave out ".000000"; SQLAlchemy does not
        dt.datetime(2026, 12, 4, 3, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 3, 0, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 11, 0, 0, 500000, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    ]
    pairs = await _stored_both_ways(tmp_path / "t.db", values)
    assert [ours for _, ours in pairs] == [
        ("text", b"2026-12-04 03:00:00.000000"),
        ("text", b"2026-12-04 03:00:00.000001"),
        ("text", b"2026-12-04 03:00:00.500000"),
    ]
    assert all(ours == orm for orm, ours in pairs)


def test_made_once_as_text_on_sqlite() -> None:
    v = dt.datetime(2026, 12, 4, 3, 0, 0, 1, tzinfo=dt.UTC)
    # Text already: sqlite3 binds it as it is, calling no adapter per row.
    assert driver_value(UTCDateTime(), sqlite.dialect(), v) == "2026-12-04 03:00:00.000001"


def test_postgresql_gets_the_bound_value() -> None:
    v = dt.datetime(2026, 12, 4, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    got = driver_value(UTCDateTime(), postgresql.dialect(), v)
    assert got == v and got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)


def test_none_stays_none() -> None:
    assert driver_value(UTCDateTime(), sqlite.dialect(), None) is None
