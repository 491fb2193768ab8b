"""An application may be a change (变更申请) of the enterprise's permit in
force (`changes_permit_id`; null for every permit before), and issuing one
merges it into that permit: the permits' status may be `merged`.

Downgrading reads a merged application as a refused one (`rejected`: decided,
never issued, drawing nothing; the permit it went into keeps its amounts) and
drops the column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_permits_status"
_BEFORE = (
    "status IN ('applied', 'rejected', 'issued', 'suspended', 'revoked', 'cancelled', 'expired')"
)
_AFTER = (
    "status IN ('applied', 'rejected', 'merged', 'issued', 'suspended', 'revoked', 'cancelled',"
    " 'expired')"
)


def upgrade() -> None:
    # SQLite rebuilds the table from its reflection; PostgreSQL alters it in place.
    with op.batch_alter_table("permits") as batch:
        batch.add_column(sa.Column("changes_permit_id", sa.String(36), nullable=True))
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _AFTER)


def downgrade() -> None:
    op.execute("UPDATE permits SET status = 'rejected' WHERE status = 'merged'")
    with op.batch_alter_table("permits") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _BEFORE)
        batch.drop_column("changes_permit_id")
