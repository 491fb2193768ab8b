"""Plans by district and period: a draw looks for the district's plan of
the period, as there is one draw per district and period
(inspections.service.create_plan). Not unique: a database may hold plans
drawn twice for a period before that was refused, and they are kept as
drawn (inspections refer to them).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_inspection_plans_district_period", "inspection_plans", ["district", "period"]
    )


def downgrade() -> None:
    op.drop_index("ix_inspection_plans_district_period", table_name="inspection_plans")
