"""An advance's credit withdrawn with the hold it was granted for (先用后补):
how much of a debt was withdrawn rather than repaid.

Revision ID: 0005
Revises: common_v7
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "common_v7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WITHDRAWN = "withdrawn_kg >= 0 AND repaid_kg + withdrawn_kg <= amount_kg"


def _debts(*extra: sa.Column[int] | sa.CheckConstraint) -> sa.Table:
    """The debts table as 0003 made it, plus `extra` (SQLite rebuilds it from this)."""
    return sa.Table(
        "debts",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("reservation_id", sa.String(36), nullable=True),
        sa.Column("lot_id", sa.BigInteger, nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("repaid_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("repaid_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("repaid_kg >= 0 AND repaid_kg <= amount_kg", name="ck_debts_repaid"),
        sa.Index("ix_debts_pool", "pool_id", "status", "created_at"),
        *extra,
    )


def upgrade() -> None:
    with op.batch_alter_table("debts", copy_from=_debts()) as b:
        b.add_column(sa.Column("withdrawn_kg", sa.BigInteger, nullable=False, server_default="0"))
        b.create_check_constraint("ck_debts_withdrawn", _WITHDRAWN)


def downgrade() -> None:
    copy = _debts(
        sa.Column("withdrawn_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint(_WITHDRAWN, name="ck_debts_withdrawn"),
    )
    with op.batch_alter_table("debts", copy_from=copy) as b:
        b.drop_constraint("ck_debts_withdrawn", type_="check")
        b.drop_column("withdrawn_kg")
