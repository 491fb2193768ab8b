"""The common tables (outbox, inbox, idempotency keys, audit trail) as an
Alembic step, called from each service's first migration. A later change to
them is a new function here, called from a new migration in every service."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from svc_common.types import BigIntPK, JSONType, UTCDateTime


def create_common_tables_v1() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("envelope", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "seq"])
    op.create_index("ix_outbox_key_seq", "outbox", ["key", "seq"])
    op.create_table(
        "inbox",
        sa.Column("consumer_group", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("source_topic", sa.String(200), nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("content_type", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target_type", sa.String(100), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("detail", JSONType, nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_target_id", "audit_log", ["target_id"])


def upgrade_common_tables_v2() -> None:
    """Dead letters kept in a table; longer Idempotency-Keys (255); indexes
    for the retention jobs (inbox, idempotency keys)."""
    op.create_table(
        "dead_letters",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("consumer_group", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False, server_default="0"),
        sa.Column("offset", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("event_type", sa.String(200), nullable=True),
        sa.Column("headers", JSONType, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="dead"),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.UniqueConstraint("consumer_group", "message_id", name="uq_dead_letters_message"),
    )
    op.create_index("ix_dead_letters_status", "dead_letters", ["status", "id"])
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("key", type_=sa.String(255), existing_nullable=False)
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def downgrade_common_tables_v2() -> None:
    op.drop_index("ix_inbox_processed_at", "inbox")
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys")
    op.drop_table("dead_letters")


def upgrade_common_tables_v3() -> None:
    """PostgreSQL: the outbox's unsent rows, oldest first and by key, for the
    relay's claim and its check that no earlier row of a key is still
    unsent. Without them the check walked every row a key ever had, sent
    ones included, so a relay pass grew with the outbox's history. Small:
    sent rows leave them. SQLite claims without that check and keeps its
    plans.

    Not CONCURRENTLY: replicas migrate at start-up under one advisory lock,
    and a concurrent build waits for every open transaction, the others'
    wait for that lock included: a deadlock. The build holds the outbox's
    writes for its duration (about a second per million rows)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in _UNSENT_INDEXES:
        op.create_index(name, "outbox", columns, postgresql_where=sa.text("sent_at IS NULL"))


def downgrade_common_tables_v3() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _ in _UNSENT_INDEXES:
        op.drop_index(name, "outbox")


_UNSENT_INDEXES = (("ix_outbox_unsent_seq", ["seq"]), ("ix_outbox_unsent_key_seq", ["key", "seq"]))


def upgrade_common_tables_v4() -> None:
    """Idempotency-Key answers kept whole: a body that is not text (an
    upload's `.xlsx` error report, NUL bytes and all) in `response_bytes`,
    and the route's own headers (Content-Disposition) to replay with it."""
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("response_bytes", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("response_headers", sa.Text, nullable=True))


def downgrade_common_tables_v4() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("response_headers")
        batch.drop_column("response_bytes")


def upgrade_common_tables_v5() -> None:
    """Copies of one dead-lettered message counted on one row: how many
    (`occurrences`), the latest's time (`last_seen_at`, the first's for the
    rows already kept) and what makes them copies (`content_digest`, unique
    among the dead rows of a consumer group; NULL, never matched, on the rows
    already kept)."""
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_seen_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("content_digest", sa.String(64), nullable=True))
    op.execute("UPDATE dead_letters SET last_seen_at = created_at")
    with op.batch_alter_table("dead_letters") as batch:
        batch.alter_column("last_seen_at", existing_type=UTCDateTime, nullable=False)
    op.create_index(
        "uq_dead_letters_dead_content",
        "dead_letters",
        ["consumer_group", "content_digest"],
        unique=True,
        postgresql_where=sa.text("status = 'dead'"),
        sqlite_where=sa.text("status = 'dead'"),
    )


def downgrade_common_tables_v5() -> None:
    op.drop_index("uq_dead_letters_dead_content", "dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("content_digest")
        batch.drop_column("last_seen_at")
        batch.drop_column("occurrences")


#: How full PostgreSQL fills the outbox's pages (per cent), as this step
#: sets it: a later change of fill is a step of its own.
OUTBOX_FILLFACTOR = 50


def upgrade_common_tables_v6() -> None:
    """PostgreSQL: the outbox's pages filled to half (`fillfactor`), so that
    the lease a row is given after it is written (a batch's lease, a
    relay's claim: `next_attempt_at` alone, in no index) is a heap-only
    update on the row's own page, with no new entry in any of the outbox's
    six indexes. With full pages every such update moved the row and wrote
    all six (pg_stat_user_tables: 7 of 19,976 updates heap-only under the
    hot-pool load; bench/RESULTS.md, 2026-12-05, night). Pages written
    before keep their fill until rewritten. SQLite has no such setting."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE outbox SET (fillfactor = {OUTBOX_FILLFACTOR})")


def downgrade_common_tables_v6() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE outbox RESET (fillfactor)")


def upgrade_common_tables_v7() -> None:
    """PostgreSQL: the outbox keeps no index of every row by key. Its relay
    reads a key's unsent rows by the partial index of step v3; the whole
    index served SQLite's relay only, yet every row written got an entry in
    it, and every row marked sent another (the mark changes `sent_at`:
    never a heap-only update). The index of rows by `sent_at` stays: the
    retention sweep finds sent rows past their age by it. Not CONCURRENTLY,
    as in step v3."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_outbox_key_seq", "outbox")


def downgrade_common_tables_v7() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_outbox_key_seq", "outbox", ["key", "seq"])
