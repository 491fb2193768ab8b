"""What an operator sees and does, per service (运维): dead letters to inspect,
re-drive or discard, and the outbox's state. Same endpoints in the embedded
default and on Kafka; `bureau dlq …` and `bureau outbox status` call them.

These are operations on the whole service, so they need a citywide token:
an administrator (or, to read, an auditor) with no district restriction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select

from svc_common.auth import Principal, require_citywide
from svc_common.errors import Conflict, Forbidden, NotFound
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Page,
    decode_int_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.readable import shown
from svc_common.service_deps import get_runtime
from svc_common.tables import DeadLetter, OutboxRow
from svc_common.types import SerialId, utcnow


class DeadLetterOut(BaseModel):
    id: int
    consumer_group: str
    message_id: str
    topic: str
    partition: int
    offset: int
    key: str | None
    event_type: str | None
    error: str
    attempts: int
    created_at: dt.datetime
    status: str
    resolved_at: dt.datetime | None
    resolved_by: str | None
    occurrences: int = Field(
        description="how many copies of the message (the same topic, type, key and payload, "
        "e.g. a request asked again while unanswered) were dead-lettered into this one; "
        "it holds the latest, which a re-drive applies"
    )
    last_seen_at: dt.datetime = Field(description="when the latest copy was dead-lettered")

    @field_validator("event_type")
    @classmethod
    def _readable_type(cls, v: str | None) -> str | None:
        # Rows kept before types were stored escaped hold U+FFFD for each
        # byte that was not UTF-8: listed as （无法解码） with a preview.
        return shown(v)


class DeadLetterDetail(DeadLetterOut):
    headers: list[Any]
    value: str


class DiscardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class FailingRow(BaseModel):
    seq: int
    event_type: str
    key: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None


class OutboxStatus(BaseModel):
    unsent: int
    oldest_unsent_at: dt.datetime | None
    oldest_unsent_age_seconds: float | None
    failing: list[FailingRow]


#: A dead letter's id in a path: a positive 64-bit integer (larger ones cannot
#: be a row's id, and the database would refuse to compare with them).
DeadLetterId = SerialId


def _no_such(dead_letter_id: int) -> NotFound:
    return NotFound(msg(f"no dead letter {dead_letter_id}", f"没有编号为 {dead_letter_id} 的死信"))


def _resolved(dead_letter_id: int, status: str) -> Conflict:
    return Conflict(
        msg(f"dead letter {dead_letter_id} is {status}", f"该死信已处理（{status}）"), state=status
    )


def _citywide(p: Principal) -> Principal:
    if p.districts:
        raise Forbidden(
            msg(
                "operations on a whole service need a token with no district restriction",
                "整个服务的运维操作需要不限辖区的令牌",
            )
        )
    return p


_operator = require_citywide("admin", "auditor")
_admin = require_citywide("admin")


def ops_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=f"{prefix}/admin", tags=["operations"])

    @router.get("/dead-letters", response_model=Page[DeadLetterOut])
    async def list_dead_letters(
        request: Request,
        status: Literal["dead", "redriven", "discarded"] | None = "dead",
        cursor: Cursor = None,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        _: Principal = Depends(_operator),
    ) -> Page[DeadLetterOut]:
        """Messages this service could not apply, newest first."""
        q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit + 1)
        if status:
            q = q.where(DeadLetter.status == status)
        if (after := decode_int_cursor(cursor)) is not None:
            q = q.where(keyset_after(after, DeadLetter.id, descending=True))
        async with get_runtime(request).db.session() as s:
            rows = list((await s.execute(q)).scalars())
        return keyset_page(
            rows,
            limit,
            lambda r: r.id,
            lambda r: DeadLetterOut.model_validate(r, from_attributes=True),
        )

    async def _get(request: Request, dead_letter_id: DeadLetterId) -> DeadLetter:
        async with get_runtime(request).db.session() as s:
            row = await s.get(DeadLetter, dead_letter_id)
        if row is None:
            raise NotFound(
                msg(f"no dead letter {dead_letter_id}", f"没有编号为 {dead_letter_id} 的死信")
            )
        return row

    @router.get("/dead-letters/{dead_letter_id}", response_model=DeadLetterDetail)
    async def show_dead_letter(
        request: Request, dead_letter_id: DeadLetterId, _: Principal = Depends(_operator)
    ) -> DeadLetterDetail:
        """One dead letter with its message (headers and value)."""
        return DeadLetterDetail.model_validate(
            await _get(request, dead_letter_id), from_attributes=True
        )

    @router.post("/dead-letters/{dead_letter_id}/redrive", response_model=DeadLetterOut)
    async def redrive_dead_letter(
        request: Request, dead_letter_id: DeadLetterId, p: Principal = Depends(_admin)
    ) -> DeadLetterOut:
        """Apply the message again. Safe to repeat: the inbox makes a second
        application change nothing. Still failing, it stays dead with the new error."""
        row = await _get(request, dead_letter_id)
        if row.status != "dead":
            raise Conflict(
                msg(
                    f"dead letter {dead_letter_id} is {row.status}", f"该死信已处理（{row.status}）"
                ),
                status=row.status,
            )
        consumer = get_runtime(request).consumer
        if consumer is None or consumer.group != row.consumer_group:
            raise Conflict(
                msg(
                    f"this service does not consume for group {row.consumer_group}",
                    f"本服务不处理消费组 {row.consumer_group} 的消息",
                )
            )
        await consumer.redrive(dead_letter_id, p.sub)
        return DeadLetterOut.model_validate(
            await _get(request, dead_letter_id), from_attributes=True
        )

    @router.post("/dead-letters/{dead_letter_id}/discard", response_model=DeadLetterOut)
    async def discard_dead_letter(
        request: Request,
        dead_letter_id: DeadLetterId,
        body: DiscardIn,
        p: Principal = Depends(_admin),
    ) -> DeadLetterOut:
        """Give up on a message for good (with the reason, kept in its error)."""
        db = get_runtime(request).db
        async with db.transaction() as s:
            row = await s.get(DeadLetter, dead_letter_id, with_for_update=True)
            if row is None:
                raise _no_such(dead_letter_id)
            if row.status != "dead":
                raise Conflict(
                    msg(
                        f"dead letter {dead_letter_id} is {row.status}",
                        f"该死信已处理（{row.status}）",
                    ),
                    status=row.status,
                )
            row.status, row.resolved_at, row.resolved_by = "discarded", utcnow(), p.sub
            row.error = f"{row.error}\n[discarded by {p.sub}: {body.reason}]"[:8000]
            out = DeadLetterOut.model_validate(row, from_attributes=True)
        return out

    @router.get("/outbox", response_model=OutboxStatus)
    async def outbox_status(request: Request, _: Principal = Depends(_operator)) -> OutboxStatus:
        """Unsent events, the oldest one's age, and the rows that keep failing."""
        async with get_runtime(request).db.session() as s:
            unsent, oldest = (
                await s.execute(
                    select(func.count(), func.min(OutboxRow.created_at)).where(
                        OutboxRow.sent_at.is_(None)
                    )
                )
            ).one()
            failing = (
                await s.execute(
                    select(
                        OutboxRow.seq,
                        OutboxRow.event_type,
                        OutboxRow.key,
                        OutboxRow.attempts,
                        OutboxRow.last_error,
                        OutboxRow.next_attempt_at,
                    )
                    .where(OutboxRow.sent_at.is_(None), OutboxRow.attempts > 0)
                    .order_by(OutboxRow.seq)
                    .limit(50)
                )
            ).all()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        return OutboxStatus(
            unsent=int(unsent or 0),
            oldest_unsent_at=oldest,
            oldest_unsent_age_seconds=(utcnow() - oldest).total_seconds() if oldest else None,
            failing=[FailingRow.model_validate(r, from_attributes=True) for r in failing],
        )

    return router
