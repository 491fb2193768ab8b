"""The public register is filtered by pollutant, alone or with a district:
indexes (pollutant, seq) and (district, pollutant, seq), so a filtered page
reads its index in sequence order instead of scanning the register.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_register_pollutant", "register_entries", ["pollutant", "seq"])
    op.create_index(
        "ix_register_district_pollutant", "register_entries", ["district", "pollutant", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_register_district_pollutant", table_name="register_entries")
    op.drop_index("ix_register_pollutant", table_name="register_entries")
