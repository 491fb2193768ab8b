"""Who wrote a record holds any subject a token may carry: up to 199
characters (svc_common.names.MAX_SUB_LENGTH), 200 as in the common tables
and the other services. These columns took 100: on PostgreSQL the write of
an officer with a longer `sub` failed (SQLite does not enforce the length).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, nullable): every column that records a token's `sub`.
SUBJECT_COLUMNS = (
    ("alerts", "issued_by", False),
    ("demands", "created_by", False),
    ("emergency_policies", "set_by", False),
    ("grade_records", "set_by", False),
    ("guarantee_entries", "set_by", False),
    ("plant_plans", "set_by", False),
    ("inspection_plans", "created_by", False),
    ("inspections", "created_by", False),
    ("complaints", "first_responsible", True),
    ("complaints", "created_by", False),
    ("enforcement_cases", "proposed_by", False),
    ("enforcement_cases", "decided_by", True),
)


def _resize(old: int, new: int) -> None:
    for table, column, nullable in SUBJECT_COLUMNS:
        with op.batch_alter_table(table) as t:
            t.alter_column(
                column,
                existing_type=sa.String(length=old),
                type_=sa.String(length=new),
                existing_nullable=nullable,
            )


def upgrade() -> None:
    _resize(100, 200)


def downgrade() -> None:
    # On PostgreSQL this fails while a longer sub is recorded, rather than
    # cutting who wrote a record short.
    _resize(200, 100)
