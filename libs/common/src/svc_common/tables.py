"""The tables every service has, whatever its domain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from svc_common.db import CommonBase
from svc_common.types import BigIntPK, JSONType, UTCDateTime, utcnow


class OutboxRow(CommonBase):
    """An event written in the same transaction as the change it announces
    (transactional outbox). The relay publishes rows in `seq` order per key."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # On PostgreSQL its pages are filled to half, set by a migration
    # (common_migration.upgrade_common_tables_v6): a row's lease stays on its page.
    __table_args__ = (
        # The relay's working set on SQLite: unsent rows, in order, per key;
        # the retention sweep's, sent rows by age. PostgreSQL keeps no index
        # by key but the partial one below (common_migration.upgrade_common_tables_v7).
        Index("ix_outbox_unsent", "sent_at", "seq"),
        Index("ix_outbox_key_seq", "key", "seq").ddl_if(dialect="sqlite"),
        # PostgreSQL, only unsent rows (common_migration.upgrade_common_tables_v3):
        # the relay's claim, oldest first, and its key-order check.
        Index("ix_outbox_unsent_seq", "seq", postgresql_where=text("sent_at IS NULL")).ddl_if(
            dialect="postgresql"
        ),
        Index(
            "ix_outbox_unsent_key_seq",
            "key",
            "seq",
            postgresql_where=text("sent_at IS NULL"),
        ).ddl_if(dialect="postgresql"),
    )


class InboxRow(CommonBase):
    """An event a consumer group has applied. Inserted in the transaction of
    the effect: a primary-key clash means the event was already applied."""

    __tablename__ = "inbox"
    consumer_group: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    source_topic: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class IdempotencyRecord(CommonBase):
    """The first answer to a POST with an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_keys"
    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: The body when it is not text (an `.xlsx` report): response_body is then null.
    response_bytes: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The route's own headers (Content-Disposition…), as a JSON list of pairs.
    response_headers: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditEntry(CommonBase):
    """Append-only audit trail: who, in which role, did what to which target."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(100))
    target_id: Mapped[str] = mapped_column(String(200), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class DeadLetter(CommonBase):
    """A message a consumer group could not apply and will not retry by
    itself (死信): kept with its error until an operator re-drives or
    discards it. Written in both modes, so the same commands work in the
    embedded default and on Kafka (where it is also on `<topic>.dlq`).

    Copies of one message (the same topic, type, key and payload under new
    event ids: a request asked again while its first copy sits here) are
    one dead letter while it is dead: `occurrences` counts them,
    `last_seen_at` says when the latest came, and the row holds the latest
    copy (svc_common.inbox)."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    consumer_group: Mapped[str] = mapped_column(String(200))
    #: The event id, or a digest of the message when it has no readable id.
    message_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(200))
    partition: Mapped[int] = mapped_column(Integer, default=0)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    headers: Mapped[list[Any]] = mapped_column(JSONType)
    value: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: dead | redriven | discarded
    status: Mapped[str] = mapped_column(String(20), default="dead")
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: How many copies of the message were dead-lettered into this row.
    occurrences: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: When the latest copy was dead-lettered (created_at: the first).
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: What makes copies one dead letter (svc_common.inbox.content_digest);
    #: None on rows kept before copies were counted.
    content_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("consumer_group", "message_id", name="uq_dead_letters_message"),
        Index("ix_dead_letters_status", "status", "id"),
        # One dead row per message content: a copy is counted on it.
        Index(
            "uq_dead_letters_dead_content",
            "consumer_group",
            "content_digest",
            unique=True,
            postgresql_where=text("status = 'dead'"),
            sqlite_where=text("status = 'dead'"),
        ),
    )
