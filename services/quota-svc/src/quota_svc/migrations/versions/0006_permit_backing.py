"""The reclaimable ceiling per permit and pollutant (可收回上限): a permit's
decrease or cancellation frees at most what quota backed.

Nothing is backfilled: the ledger never kept permits' amounts, and it reads
no other service's database. A permit without a row (issued before this
migration) is taken as fully backed as it stands when its next event
arrives (`reclaims.rules.after_change`, `freed_on_cancel`): from then on an
unbacked increase makes nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "permit_backing",
        sa.Column("permit_id", sa.String(100), primary_key=True),
        sa.Column("pollutant", sa.String(20), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("backed_kg", sa.BigInteger, nullable=False),
        sa.Column("last_event_id", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "backed_kg >= 0 AND backed_kg <= amount_kg", name="ck_permit_backing_amounts"
        ),
    )


def downgrade() -> None:
    op.drop_table("permit_backing")
