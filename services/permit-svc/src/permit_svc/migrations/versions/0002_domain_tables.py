"""permit-svc domain tables: industries, enterprises, permits, registrations,
audits and findings, and the quota allocation read model.

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

CATEGORY_CHECK = "category IN ('key', 'simplified', 'registration')"


def upgrade() -> None:
    op.create_table(
        "industries",
        sa.Column("code", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.CheckConstraint(CATEGORY_CHECK, name="ck_industries_category"),
    )
    op.create_table(
        "enterprises",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("industry_code", sa.String(8), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("address", sa.String(500), nullable=False, server_default=""),
        sa.Column("operating_status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(CATEGORY_CHECK, name="ck_enterprises_category"),
        sa.CheckConstraint(
            "operating_status IN ('operating', 'suspended', 'closed')",
            name="ck_enterprises_operating_status",
        ),
    )
    op.create_index(
        "ix_enterprises_district_category", "enterprises", ["district", "category", "uscc"]
    )
    op.create_table(
        "permits",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("permit_no", sa.String(24), nullable=True, unique=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("industry_code", sa.String(8), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_action", sa.String(20), nullable=False),
        sa.Column("pollutants", JSONType, nullable=False),
        sa.Column("vocs_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("quota_drawn_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("project_ref", sa.String(100), nullable=True),
        sa.Column("source_filing_id", sa.String(64), nullable=True, unique=True),
        sa.Column("valid_from", sa.Date, nullable=True),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("cancel_reason", sa.String(20), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('applied', 'issued', 'suspended', 'revoked', 'cancelled', 'expired')",
            name="ck_permits_status",
        ),
        sa.CheckConstraint("category IN ('key', 'simplified')", name="ck_permits_category"),
        sa.CheckConstraint("vocs_kg >= 0 AND quota_drawn_kg >= 0", name="ck_permits_amounts"),
    )
    op.create_index("ix_permits_uscc", "permits", ["uscc"])
    op.create_index("ix_permits_project_ref", "permits", ["project_ref"])
    op.create_index("ix_permits_district_status", "permits", ["district", "status", "valid_to"])
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("registration_no", sa.String(24), nullable=False, unique=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("industry_code", sa.String(8), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled', 'expired')", name="ck_registrations_status"
        ),
    )
    op.create_index("ix_registrations_uscc", "registrations", ["uscc"])
    op.create_index(
        "ix_registrations_district_status", "registrations", ["district", "status", "valid_to"]
    )
    op.create_index(
        "uq_registrations_active_uscc",
        "registrations",
        ["uscc"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "permit_audits",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("permit_id", sa.String(36), sa.ForeignKey("permits.id"), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("audited_by", sa.String(200), nullable=False),
        sa.Column("audited_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("result IN ('pass', 'findings')", name="ck_permit_audits_result"),
    )
    op.create_index("ix_permit_audits_permit_id", "permit_audits", ["permit_id"])
    op.create_index("ix_permit_audits_district", "permit_audits", ["district"])
    op.create_table(
        "audit_findings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("audit_id", sa.String(36), sa.ForeignKey("permit_audits.id"), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("rectification_deadline", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rectified_at", UTCDateTime, nullable=True),
        sa.Column("rectified_by", sa.String(200), nullable=True),
        sa.Column("rectification_note", sa.String(1000), nullable=True),
        sa.CheckConstraint("status IN ('open', 'rectified')", name="ck_audit_findings_status"),
    )
    op.create_index("ix_audit_findings_audit_id", "audit_findings", ["audit_id"])
    op.create_index(
        "ix_audit_findings_open", "audit_findings", ["status", "rectification_deadline"]
    )
    op.create_table(
        "quota_allocations",
        sa.Column("reservation_id", sa.String(64), primary_key=True),
        sa.Column("project_ref", sa.String(100), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(40), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("increment_kg", sa.BigInteger, nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_quota_allocations_project_ref", "quota_allocations", ["project_ref"])
    op.create_index("ix_quota_allocations_uscc", "quota_allocations", ["uscc"])


def downgrade() -> None:
    for table in (
        "quota_allocations",
        "audit_findings",
        "permit_audits",
        "registrations",
        "permits",
        "enterprises",
        "industries",
    ):
        op.drop_table(table)
