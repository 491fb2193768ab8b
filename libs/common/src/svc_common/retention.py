"""Retention of the bookkeeping tables: inbox rows, sent outbox rows and
stored Idempotency-Key answers older than their configured age are deleted.
The journal, the audit trail, dead letters and every domain table are kept."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete

from svc_common.tables import IdempotencyRecord, InboxRow, OutboxRow
from svc_common.types import utcnow

if TYPE_CHECKING:
    from svc_common.service import Runtime

log = structlog.get_logger(__name__)


async def sweep(rt: Runtime) -> dict[str, int]:
    """Delete what is past retention; safe on several replicas at once."""
    s_ = rt.settings
    now = utcnow()
    deleted: dict[str, int] = {}
    async with rt.db.transaction() as s:
        for name, stmt in (
            (
                "inbox",
                delete(InboxRow).where(
                    InboxRow.processed_at < now - dt.timedelta(days=s_.inbox_retention_days)
                ),
            ),
            (
                "outbox",
                delete(OutboxRow).where(
                    OutboxRow.sent_at.is_not(None),
                    OutboxRow.sent_at < now - dt.timedelta(days=s_.outbox_retention_days),
                ),
            ),
            (
                "idempotency_keys",
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.created_at
                    < now - dt.timedelta(hours=s_.idempotency_retention_hours)
                ),
            ),
        ):
            result = await s.execute(stmt)
            deleted[name] = int(getattr(result, "rowcount", 0) or 0)
    if any(deleted.values()):
        log.info("retention sweep", deleted=deleted)
    return deleted
