"""Holdings retired by a confirmed reclaim (收回注销): when and by which;
reservations found by enterprise (`GET /quota/reservations?uscc=`).

Revision ID: 0004
Revises: common_v3
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "common_v3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("holdings", sa.Column("retired_at", UTCDateTime, nullable=True))
    op.add_column("holdings", sa.Column("reclaim_id", sa.String(36), nullable=True))
    op.create_index("ix_reservations_uscc", "reservations", ["uscc", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_reservations_uscc", table_name="reservations")
    with op.batch_alter_table("holdings") as batch:
        batch.drop_column("reclaim_id")
        batch.drop_column("retired_at")
