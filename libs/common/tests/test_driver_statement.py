"""Statements run on asyncpg itself (`DriverStatement`) keep what SQLAlchemy
would have done with their parameters, and refuse what they cannot run."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, select
from svc_common.db import Database, DriverStatement
from svc_common.idempotency import _LOOKUP
from svc_common.tables import OutboxRow
from svc_common.types import utcnow

pytestmark = pytest.mark.pg

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


async def test_a_column_type_still_checks_its_value(pg_url: str) -> None:
    db = await _db(pg_url)
    try:
        assert await db.fetch_alone(_SENT_SINCE, {"since": utcnow()}) == []
        # UTCDateTime refuses a naive time, on the driver as through SQLAlchemy.
        with pytest.raises(ValueError, match="naive"):
            await db.fetch_alone(_SENT_SINCE, {"since": dt.datetime(2026, 1, 1)})
    finally:
        await db.dispose()


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
