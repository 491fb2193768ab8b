"""Approved EIA filings permit-svc cannot draft an application for yet
(a new enterprise whose industry code is not in the classification table)
are kept, with their reason, until drafted: `parked_filings`.

Downgrading drops the table, and with it the filings still waiting: list
them first (GET /permit/parked-filings).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parked_filings",
        sa.Column("filing_id", sa.String(64), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("industry_code", sa.String(8), nullable=False),
        sa.Column("project_ref", sa.String(100), nullable=False),
        sa.Column("vocs_kg", sa.BigInteger(), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("drafted_at", UTCDateTime, nullable=True),
        sa.Column("permit_id", sa.String(36), nullable=True),
        sa.CheckConstraint("state IN ('waiting', 'drafted')", name="ck_parked_filings_state"),
    )
    op.create_index("ix_parked_filings_state_code", "parked_filings", ["state", "industry_code"])
    op.create_index(
        "ix_parked_filings_state_district",
        "parked_filings",
        ["state", "district", "received_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_parked_filings_state_district", table_name="parked_filings")
    op.drop_index("ix_parked_filings_state_code", table_name="parked_filings")
    op.drop_table("parked_filings")
