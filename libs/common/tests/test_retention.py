"""The retention sweep deletes what is past its age and nothing else: sent
outbox rows sent longer ago than OUTBOX_RETENTION_DAYS (never an unsent row,
however old), inbox rows and stored answers past theirs. On SQLite and on
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from svc_common.db import CommonBase, Database
from svc_common.retention import sweep
from svc_common.settings import ServiceSettings
from svc_common.tables import IdempotencyRecord, InboxRow, OutboxRow
from svc_common.types import utcnow


def _row(n: int, made_days_ago: float, sent_days_ago: float | None) -> OutboxRow:
    now = utcnow()
    return OutboxRow(
        event_id=f"e-{n}",
        topic="t.events",
        key="k",
        event_type="t.v1",
        envelope={"n": n},
        created_at=now - dt.timedelta(days=made_days_ago),
        sent_at=None if sent_days_ago is None else now - dt.timedelta(days=sent_days_ago),
        attempts=0,
    )


async def test_the_sweep_deletes_sent_rows_past_retention_only(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(CommonBase.metadata.create_all)
        now = utcnow()
        async with db.transaction() as s:
            s.add_all(
                [
                    _row(1, made_days_ago=9, sent_days_ago=8),  # past retention: deleted
                    _row(2, made_days_ago=9, sent_days_ago=1),  # sent late: kept
                    _row(3, made_days_ago=30, sent_days_ago=None),  # never sent: kept
                    _row(4, made_days_ago=1, sent_days_ago=1),  # recent: kept
                ]
            )
            s.add(
                InboxRow(
                    consumer_group="g",
                    event_id="old",
                    event_type="t.v1",
                    source_topic="t.events",
                    processed_at=now - dt.timedelta(days=31),
                )
            )
            s.add(
                InboxRow(
                    consumer_group="g",
                    event_id="new",
                    event_type="t.v1",
                    source_topic="t.events",
                    processed_at=now,
                )
            )
        settings = ServiceSettings(database_url=db_url)  # 7 days, 30 days, 72 hours
        rt: Any = SimpleNamespace(settings=settings, db=db)
        deleted = await sweep(rt)
        assert deleted == {"outbox": 1, "inbox": 1, "idempotency_keys": 0}
        async with db.session() as s:
            kept = set(await s.scalars(select(OutboxRow.event_id)))
            inbox = set(await s.scalars(select(InboxRow.event_id)))
            answers = (await s.scalars(select(IdempotencyRecord.key))).all()
        assert kept == {"e-2", "e-3", "e-4"} and inbox == {"new"} and answers == []
        assert await sweep(rt) == {"outbox": 0, "inbox": 0, "idempotency_keys": 0}
    finally:
        await db.dispose()


async def test_a_backlog_is_swept_in_short_transactions_each_kept(db_url: str) -> None:
    """Rows past retention are deleted a chunk a transaction until none is
    left, each chunk kept as it commits: of 7 old sent rows in chunks of 3,
    the first 3 stay deleted when the second chunk fails, and the next
    sweep deletes the other 4 (3, then 1)."""
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(CommonBase.metadata.create_all)
        async with db.transaction() as s:
            s.add_all([_row(n, made_days_ago=20, sent_days_ago=10) for n in range(7)])
            s.add(_row(99, made_days_ago=20, sent_days_ago=None))
        rt: Any = SimpleNamespace(settings=ServiceSettings(database_url=db_url), db=db)
        commits, fail_at = 0, 3  # the outbox's second chunk
        real = db.transaction

        def counted() -> Any:
            nonlocal commits
            commits += 1
            if commits == fail_at:
                raise ConnectionError("the database went away")
            return real()

        db.transaction = counted  # type: ignore[method-assign]
        try:
            with pytest.raises(ConnectionError):
                await sweep(rt, chunk=3)
            async with db.session() as s:
                left = set(await s.scalars(select(OutboxRow.event_id)))
            assert len(left) == 5 and "e-99" in left  # the first chunk stayed deleted
            commits, fail_at = 0, 0
            deleted = await sweep(rt, chunk=3)
        finally:
            db.transaction = real  # type: ignore[method-assign]
        assert deleted["outbox"] == 4
        # inbox and answers: one empty chunk each; the outbox: 3, 1.
        assert commits == 1 + 2 + 1
        async with db.session() as s:
            assert set(await s.scalars(select(OutboxRow.event_id))) == {"e-99"}
    finally:
        await db.dispose()
