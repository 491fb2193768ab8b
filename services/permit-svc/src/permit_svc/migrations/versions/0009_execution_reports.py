"""Permit execution reports (排污许可证执行报告): `execution_reports`, every
version of a report kept, one current per permit and period.

Downgrading drops the table, and with it the reports filed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import JSONType, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "execution_reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("permit_id", sa.String(36), sa.ForeignKey("permits.id"), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("supersedes", sa.String(36), nullable=True),
        sa.Column("emissions", JSONType, nullable=False),
        sa.Column("findings", JSONType, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("filed_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "frequency IN ('annual', 'quarterly', 'monthly')",
            name="ck_execution_reports_frequency",
        ),
        sa.UniqueConstraint("permit_id", "period", "version", name="uq_execution_reports_version"),
    )
    op.create_index(
        "ux_execution_reports_current",
        "execution_reports",
        ["permit_id", "period"],
        unique=True,
        postgresql_where=sa.text("is_current"),
        sqlite_where=sa.text("is_current"),
    )


def downgrade() -> None:
    op.drop_index("ux_execution_reports_current", table_name="execution_reports")
    op.drop_table("execution_reports")
