"""Alerts by their start, then id: GET /supervision/alerts reads them the
latest start first, a page at a time from a cursor (starts_at, id), and
`at` keeps those begun by an instant.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alerts_starts_at_id", "alerts", ["starts_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_starts_at_id", table_name="alerts")
