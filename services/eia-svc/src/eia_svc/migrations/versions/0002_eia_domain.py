"""EIA domain tables: classification table, control units, parks,
registration-form filings with their number counters, report filings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import JSONType, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = "'report', 'report_form', 'registration_form', 'exempt'"


def upgrade() -> None:
    op.create_table(
        "project_types",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("industry_code", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.CheckConstraint(f"category IN ({CATEGORIES})", name="ck_project_types_category"),
    )
    op.create_table(
        "control_units",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("banned_industries", JSONType, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "kind IN ('priority_protection', 'key_control', 'general_control')",
            name="ck_control_units_kind",
        ),
    )
    op.create_table(
        "parks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("covered_project_types", JSONType, nullable=False),
        sa.Column("vocs_subpool_kg", sa.BigInteger, nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("vocs_subpool_kg >= 0", name="ck_parks_subpool"),
    )
    op.create_table(
        "filing_number_counters",
        sa.Column("series", sa.String(10), primary_key=True),
        sa.Column("district", sa.String(6), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last_value", sa.BigInteger, nullable=False),
        sa.CheckConstraint("last_value > 0", name="ck_filing_number_counters_positive"),
    )
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("filing_no", sa.String(40), nullable=False, unique=True),
        sa.Column("filer", sa.String(200), nullable=False),
        sa.Column("row_key", sa.String(100), nullable=True),
        sa.Column("project_name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("project_type", sa.String(40), nullable=False),
        sa.Column("industry_code", sa.String(20), nullable=False),
        sa.Column("vocs_increment_kg", sa.BigInteger, nullable=False),
        sa.Column("control_unit", sa.String(40), nullable=True),
        sa.Column("park_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("review_status", sa.String(20), nullable=True),
        sa.Column("filed_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoke_reason", sa.Text, nullable=True),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        sa.UniqueConstraint("filer", "row_key", name="uq_registrations_filer_row_key"),
        sa.CheckConstraint("status IN ('filed', 'revoked')", name="ck_registrations_status"),
        sa.CheckConstraint(
            "review_status IS NULL OR review_status IN ('pending', 'cleared', 'revoked')",
            name="ck_registrations_review_status",
        ),
        sa.CheckConstraint("vocs_increment_kg >= 0", name="ck_registrations_vocs"),
    )
    op.create_index(
        "ix_registrations_review", "registrations", ["review_status", "district", "filed_at"]
    )
    op.create_index("ix_registrations_filer", "registrations", ["filer", "filed_at"])
    op.create_table(
        "filings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("project_type", sa.String(40), nullable=False),
        sa.Column("industry_code", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("major_project", sa.Boolean, nullable=False),
        sa.Column("major_kind", sa.String(30), nullable=True),
        sa.Column("park_id", sa.String(40), nullable=True),
        sa.Column("control_unit", sa.String(40), nullable=True),
        sa.Column("vocs_increment_kg", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("evaluation_done", sa.Boolean, nullable=False),
        sa.Column("review_done", sa.Boolean, nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("submitted_role", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("accepted_at", UTCDateTime, nullable=True),
        sa.Column("evaluation_done_at", UTCDateTime, nullable=True),
        sa.Column("review_done_at", UTCDateTime, nullable=True),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
        sa.Column("quota_status", sa.String(20), nullable=False),
        sa.Column("quota_attempt", sa.Integer, nullable=False),
        sa.Column("reservation_id", sa.String(100), nullable=True),
        sa.Column("quota_shortfall_kg", sa.BigInteger, nullable=True),
        sa.Column("quota_allocated_kg", sa.BigInteger, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("category IN ('report', 'report_form')", name="ck_filings_category"),
        sa.CheckConstraint("channel IN ('normal', 'green', 'bundled')", name="ck_filings_channel"),
        sa.CheckConstraint(
            "status IN ('submitted', 'accepted', 'evaluated', 'reviewed', "
            "'approved', 'rejected', 'withdrawn')",
            name="ck_filings_status",
        ),
        sa.CheckConstraint("vocs_increment_kg >= 0", name="ck_filings_vocs"),
    )
    op.create_index("ix_filings_district_status", "filings", ["district", "status", "created_at"])
    op.create_index("ix_filings_due", "filings", ["status", "due_at"])


def downgrade() -> None:
    for table in (
        "filings",
        "registrations",
        "filing_number_counters",
        "parks",
        "control_units",
        "project_types",
    ):
        op.drop_table(table)
