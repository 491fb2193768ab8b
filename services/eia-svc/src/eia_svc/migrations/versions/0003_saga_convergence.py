"""Saga convergence: when quota was last asked and how often again; whether a
park's sub-pool was funded.

Revision ID: 0003
Revises: common_v2
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "common_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("filings") as batch:
        batch.add_column(sa.Column("quota_asked_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("quota_asks", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_filings_quota_pending", "filings", ["quota_status", "quota_asked_at"])
    with op.batch_alter_table("parks") as batch:
        batch.add_column(
            sa.Column("funding_status", sa.String(10), nullable=False, server_default="pending")
        )
        batch.add_column(sa.Column("funding_shortfall_kg", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parks") as batch:
        batch.drop_column("funding_shortfall_kg")
        batch.drop_column("funding_status")
    op.drop_index("ix_filings_quota_pending", "filings")
    with op.batch_alter_table("filings") as batch:
        batch.drop_column("quota_asks")
        batch.drop_column("quota_asked_at")
