"""Common tables, fourth step: Idempotency-Key answers kept whole (binary
bodies, the route's headers).

Revision ID: common_v4
Revises: common_v3
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from svc_common.common_migration import downgrade_common_tables_v4, upgrade_common_tables_v4

revision: str = "common_v4"
down_revision: str | None = "common_v3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_common_tables_v4()


def downgrade() -> None:
    downgrade_common_tables_v4()
