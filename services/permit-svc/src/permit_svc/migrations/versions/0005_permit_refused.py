"""An application can be refused (不予许可): the permits' status may be
`rejected`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_permits_status"
_BEFORE = "status IN ('applied', 'issued', 'suspended', 'revoked', 'cancelled', 'expired')"
_AFTER = (
    "status IN ('applied', 'rejected', 'issued', 'suspended', 'revoked', 'cancelled', 'expired')"
)


def _status_check(condition: str) -> None:
    # SQLite rebuilds the table from its reflection (its columns, indexes,
    # constraints); PostgreSQL alters it in place.
    with op.batch_alter_table("permits") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, condition)


def upgrade() -> None:
    _status_check(_AFTER)


def downgrade() -> None:
    # A refused application reads as one still undecided, its reason kept.
    op.execute("UPDATE permits SET status = 'applied' WHERE status = 'rejected'")
    _status_check(_BEFORE)
