"""When quota-svc was first asked for a filing's current request
(`quota_first_asked_at`): kept across the sweeper's re-asks, which move
`quota_asked_at` on every two minutes, so the stuck list (`older_than`)
measures how long the saga has waited. Existing rows start from their last
ask (the first is not recorded): a saga waiting at the upgrade is listed
once it has waited that long again.

Revision ID: 0006
Revises: common_v7
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "common_v7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("filings") as batch:
        batch.add_column(sa.Column("quota_first_asked_at", UTCDateTime, nullable=True))
    op.execute(sa.text("UPDATE filings SET quota_first_asked_at = quota_asked_at"))


def downgrade() -> None:
    with op.batch_alter_table("filings") as batch:
        batch.drop_column("quota_first_asked_at")
