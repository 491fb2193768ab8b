"""Common tables, third step: the outbox's unsent rows by key (PostgreSQL).

Revision ID: common_v3
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from svc_common.common_migration import downgrade_common_tables_v3, upgrade_common_tables_v3

revision: str = "common_v3"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_common_tables_v3()


def downgrade() -> None:
    downgrade_common_tables_v3()
