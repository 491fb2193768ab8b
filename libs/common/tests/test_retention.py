"""The retention sweep deletes what is past its age and nothing else: sent
outbox rows sent longer ago than OUTBOX_RETENTION_DAYS (never an unsent row,
however old), inbox rows and stored answers past theirs. On SQLite and on
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

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
