"""Common tables, seventh step: on PostgreSQL the outbox keeps no index of
every row by key (its relay reads the partial index of unsent rows).

Revision ID: common_v7
Revises: common_v6
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from svc_common.common_migration import downgrade_common_tables_v7, upgrade_common_tables_v7

revision: str = "common_v7"
down_revision: str | None = "common_v6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_common_tables_v7()


def downgrade() -> None:
    downgrade_common_tables_v7()
