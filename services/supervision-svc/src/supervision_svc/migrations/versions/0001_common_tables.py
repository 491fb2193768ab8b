"""Common tables: outbox, inbox, idempotency keys, audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op
from svc_common.common_migration import create_common_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_common_tables_v1()


def downgrade() -> None:
    for table in ("audit_log", "idempotency_keys", "inbox", "outbox"):
        op.drop_table(table)
