"""A permit keeps the pre-acceptance checks (受理时校验) judged when it was
applied for (`prechecks`, a JSON list; null for the permits applied for
before, and for imported ones) and how many did not pass (`attention`, 0
for those).

Downgrading drops both, and with them the checks kept.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import JSONType

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("permits") as batch:
        batch.add_column(sa.Column("prechecks", JSONType, nullable=True))
        batch.add_column(
            sa.Column("attention", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("permits") as batch:
        batch.drop_column("attention")
        batch.drop_column("prechecks")
