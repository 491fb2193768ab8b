"""What each permit's events freed (`permit_backing.freed_kg`): the kg its
cancellation or cuts made reclaim candidates of. An export carries it, so
an import can check a candidate born of a permit event against the
ceiling that freed it (a pending candidate raised in the file would
otherwise credit the pool quota no permit ever backed).

Backfilled from the candidates the ledger holds: per permit and pollutant,
the sum of those a permit event made (`permit_cancelled`,
`permit_changed`), whatever their status.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("permit_backing") as batch:
        batch.add_column(sa.Column("freed_kg", sa.BigInteger, nullable=False, server_default="0"))
    op.execute(
        "UPDATE permit_backing SET freed_kg = COALESCE(("
        "SELECT SUM(r.amount_kg) FROM reclaims r "
        "WHERE r.permit_id = permit_backing.permit_id "
        "AND r.pollutant = permit_backing.pollutant "
        "AND r.source IN ('permit_cancelled', 'permit_changed')), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("permit_backing") as batch:
        batch.drop_column("freed_kg")
