"""Common tables, second step: dead letters, longer Idempotency-Keys, retention indexes.

Revision ID: common_v2
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from svc_common.common_migration import downgrade_common_tables_v2, upgrade_common_tables_v2

revision: str = "common_v2"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_common_tables_v2()


def downgrade() -> None:
    downgrade_common_tables_v2()
