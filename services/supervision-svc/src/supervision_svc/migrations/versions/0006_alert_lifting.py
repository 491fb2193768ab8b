"""Alerts lifted early (解除预警) and replaced by a level change (升级/降级):
when, by whom, why, and which alert replaced or was replaced. All nullable:
an alert issued before keeps its planned end as its actual end.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import JSONType, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as t:
        t.add_column(sa.Column("replaces", JSONType, nullable=True))
        t.add_column(sa.Column("lifted_at", UTCDateTime, nullable=True))
        t.add_column(sa.Column("lifted_by", sa.String(length=200), nullable=True))
        t.add_column(sa.Column("lift_reason", sa.String(length=1000), nullable=True))
        t.add_column(sa.Column("replaced_by", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as t:
        for column in ("replaced_by", "lift_reason", "lifted_by", "lifted_at", "replaces"):
            t.drop_column(column)
