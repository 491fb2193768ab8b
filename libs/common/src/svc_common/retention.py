"""Retention of the bookkeeping tables: inbox rows, sent outbox rows and
stored Idempotency-Key answers older than their configured age are deleted.
The journal, the audit trail, dead letters and every domain table are kept."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import ColumnElement, delete, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from svc_common.tables import IdempotencyRecord, InboxRow, OutboxRow
from svc_common.types import utcnow

if TYPE_CHECKING:
    from svc_common.db import Database
    from svc_common.service import Runtime

log = structlog.get_logger(__name__)


#: Rows a transaction of the sweep deletes at most: a backlog (after an
#: outage, or once the business clock moved on) goes in short transactions,
#: each kept as it commits, not in one statement that could outlast the
#: statement limit (DB_COMMAND_TIMEOUT_SECONDS) and fail every hour.
CHUNK = 5000


async def sweep(rt: Runtime, chunk: int = CHUNK) -> dict[str, int]:
    """Delete what is past retention, `chunk` rows a transaction; safe on
    several replicas at once (on PostgreSQL a replica skips the rows
    another is deleting)."""
    s_ = rt.settings
    now = utcnow()
    deleted = {
        "inbox": await _in_chunks(
            rt.db,
            InboxRow,
            [InboxRow.consumer_group, InboxRow.event_id],
            [InboxRow.processed_at < now - dt.timedelta(days=s_.inbox_retention_days)],
            chunk,
        ),
        "outbox": await _in_chunks(
            rt.db,
            OutboxRow,
            [OutboxRow.seq],
            [
                OutboxRow.sent_at.is_not(None),
                OutboxRow.sent_at < now - dt.timedelta(days=s_.outbox_retention_days),
            ],
            chunk,
        ),
        "idempotency_keys": await _in_chunks(
            rt.db,
            IdempotencyRecord,
            [IdempotencyRecord.owner, IdempotencyRecord.key],
            [
                IdempotencyRecord.created_at
                < now - dt.timedelta(hours=s_.idempotency_retention_hours)
            ],
            chunk,
        ),
    }
    if any(deleted.values()):
        log.info("retention sweep", deleted=deleted)
    return deleted


async def _in_chunks(
    db: Database,
    entity: type[Any],
    key: list[InstrumentedAttribute[Any]],
    where: list[ColumnElement[bool]],
    chunk: int,
) -> int:
    """Delete the rows of `entity` matching `where`, `chunk` of them (by
    their primary `key`) a transaction, until a transaction finds fewer."""
    picked = select(*key).where(*where).limit(chunk).with_for_update(skip_locked=True)
    target = key[0] if len(key) == 1 else tuple_(*key)
    chunk_of = delete(entity).where(target.in_(picked))
    total = 0
    while True:
        async with db.transaction() as s:
            result = await s.execute(chunk_of)
        n = int(getattr(result, "rowcount", 0) or 0)
        total += n
        if n < chunk:
            return total
