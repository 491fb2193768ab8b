"""Common tables, fifth step: copies of one dead-lettered message counted
on one row (occurrences, last seen, content digest).

Revision ID: common_v5
Revises: common_v4
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from svc_common.common_migration import downgrade_common_tables_v5, upgrade_common_tables_v5

revision: str = "common_v5"
down_revision: str | None = "common_v4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_common_tables_v5()


def downgrade() -> None:
    downgrade_common_tables_v5()
