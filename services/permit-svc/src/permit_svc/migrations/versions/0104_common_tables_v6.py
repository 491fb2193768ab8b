"""Common tables, sixth step: the outbox's pages filled to half on
PostgreSQL, so that a row's lease is a heap-only update.

Revision ID: common_v6
Revises: common_v5
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from svc_common.common_migration import downgrade_common_tables_v6, upgrade_common_tables_v6

revision: str = "common_v6"
down_revision: str | None = "common_v5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_common_tables_v6()


def downgrade() -> None:
    downgrade_common_tables_v6()
