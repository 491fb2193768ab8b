"""supervision-svc domain tables: the register read model, complaints and
clusters (with complainants' personal data apart), demands, inspection plans,
inspections, findings, enforcement cases, grades, guarantee list, per-plant
plans, the emergency policy table, alerts and number counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import BigIntPK, JSONType, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("districts", JSONType, nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "complaint_clusters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("first_received_at", UTCDateTime, nullable=False),
        sa.Column("last_received_at", UTCDateTime, nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("complainants", sa.Integer(), nullable=False),
        sa.Column("open_reports", sa.Integer(), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_clusters_district_last",
        "complaint_clusters",
        ["district", "last_received_at"],
        unique=False,
    )

    op.create_table(
        "demands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=100), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("progress_percent", sa.Integer(), nullable=False),
        sa.Column("progress_note", sa.String(length=2000), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.Column("overdue_at", UTCDateTime, nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("status IN ('open', 'done')", name="ck_demands_status"),
        sa.CheckConstraint("progress_percent BETWEEN 0 AND 100", name="ck_demands_progress"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_demands_district_status", "demands", ["district", "status", "deadline"], unique=False
    )

    op.create_table(
        "emergency_policies",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rules", JSONType, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("effective_from"),
    )
    op.create_table(
        "enterprises",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("industry_code", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("operating_status", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("registration_valid_to", sa.Date(), nullable=True),
        sa.Column("source_updated_at", UTCDateTime, nullable=True),
        sa.Column("learned_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("uscc"),
    )
    op.create_index(
        "ix_sv_enterprises_district",
        "enterprises",
        ["district", "operating_status", "uscc"],
        unique=False,
    )

    op.create_table(
        "grade_records",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("grade", sa.String(length=10), nullable=False),
        sa.Column("benchmark", sa.String(length=10), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(length=1000), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("benchmark IN ('national', 'tianjin', 'none')", name="ck_grades_bench"),
        sa.CheckConstraint("grade IN ('A', 'B', 'C', 'D', 'leading')", name="ck_grades_grade"),
        sa.CheckConstraint("valid_from <= valid_to", name="ck_grades_validity"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_grades_district", "grade_records", ["district", "valid_to"], unique=False)
    op.create_index("ix_grades_uscc", "grade_records", ["uscc", "set_at"], unique=False)

    op.create_table(
        "guarantee_entries",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("allowed_measure", JSONType, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_guarantee_entries_uscc", "guarantee_entries", ["uscc"], unique=False)

    op.create_table(
        "inspection_plans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("requested_count", sa.Integer(), nullable=True),
        sa.Column("requested_share", sa.String(length=10), nullable=True),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("weights", JSONType, nullable=False),
        sa.Column("candidates", JSONType, nullable=False),
        sa.Column("selection", JSONType, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "number_counters",
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "permits",
        sa.Column("permit_id", sa.String(length=64), nullable=False),
        sa.Column("permit_no", sa.String(length=40), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("pollutants", JSONType, nullable=False),
        sa.Column("vocs_kg", sa.BigInteger(), nullable=False),
        sa.Column("nox_kg", sa.BigInteger(), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("permit_id"),
    )
    op.create_index("ix_permits_uscc", "permits", ["uscc"], unique=False)

    op.create_table(
        "plant_plans",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("measure", JSONType, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uscc", "level", name="uq_plant_plans_uscc_level"),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("lat_e6", sa.BigInteger(), nullable=True),
        sa.Column("lng_e6", sa.BigInteger(), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("complainant_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("first_responsible", sa.String(length=100), nullable=True),
        sa.Column("assigned_to", sa.String(length=100), nullable=True),
        sa.Column("accept_due", UTCDateTime, nullable=False),
        sa.Column("accepted_at", UTCDateTime, nullable=True),
        sa.Column("close_due", UTCDateTime, nullable=True),
        sa.Column("rejected_reason", sa.String(length=500), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", UTCDateTime, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("outcome_note", sa.String(length=2000), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("overdue_at", UTCDateTime, nullable=True),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "category IN ('air', 'odor', 'noise', 'water', 'waste', 'soil', 'radiation', 'other')",
            name="ck_complaints_category",
        ),
        sa.CheckConstraint(
            "channel IN ('hotline', 'wechat', 'web', 'letter', 'visit')",
            name="ck_complaints_channel",
        ),
        sa.CheckConstraint(
            "status IN ('received', 'accepted', 'assigned', 'replied', 'closed', 'rejected')",
            name="ck_complaints_status",
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["complaint_clusters.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
    )
    op.create_index(
        "ix_complaints_accepted", "complaints", ["district", "accepted_at"], unique=False
    )
    op.create_index("ix_complaints_cluster_id", "complaints", ["cluster_id"], unique=False)
    op.create_index(
        "ix_complaints_district_created",
        "complaints",
        ["district", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_complaints_dup", "complaints", ["district", "category", "received_at"], unique=False
    )
    op.create_index("ix_complaints_uscc", "complaints", ["uscc"], unique=False)

    op.create_table(
        "inspections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inspection_no", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("inspected_at", UTCDateTime, nullable=False),
        sa.Column("inspectors", JSONType, nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=True),
        sa.Column("items", JSONType, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspection_no"),
    )
    op.create_index(
        "ix_inspections_district_at", "inspections", ["district", "inspected_at"], unique=False
    )
    op.create_index("ix_inspections_uscc", "inspections", ["uscc"], unique=False)

    op.create_table(
        "complainant_contacts",
        sa.Column("complaint_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.Column("phone", sa.String(length=30), nullable=True),
        sa.Column("wants_reply", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("complaint_id"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("item", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("found_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("severity IN ('minor', 'serious')", name="ck_findings_severity"),
        sa.CheckConstraint(
            "status IN ('open', 'case_opened', 'rectified')", name="ck_findings_status"
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_findings_district_found", "findings", ["district", "found_at"], unique=False
    )
    op.create_index("ix_findings_inspection_id", "findings", ["inspection_id"], unique=False)
    op.create_index("ix_findings_uscc", "findings", ["uscc"], unique=False)

    op.create_table(
        "enforcement_cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("finding_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=6), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("facts", sa.String(length=2000), nullable=False),
        sa.Column("measure", sa.String(length=20), nullable=False),
        sa.Column("fine_cny", sa.BigInteger(), nullable=True),
        sa.Column("rectify_by", sa.Date(), nullable=True),
        sa.Column("permit_id", sa.String(length=64), nullable=True),
        sa.Column("permit_no", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("proposed_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("decision_note", sa.String(length=2000), nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("closing_note", sa.String(length=2000), nullable=True),
        sa.CheckConstraint(
            "measure IN ('warning', 'fine', 'rectification', 'permit_suspension')",
            name="ck_cases_measure",
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'decided', 'rejected', 'closed')", name="ck_cases_status"
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by", name="ck_cases_four_eyes"
        ),
        sa.CheckConstraint("fine_cny IS NULL OR fine_cny > 0", name="ck_cases_fine"),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
    )
    op.create_index(
        "ix_cases_district_proposed", "enforcement_cases", ["district", "proposed_at"], unique=False
    )
    op.create_index(
        "ix_enforcement_cases_finding_id", "enforcement_cases", ["finding_id"], unique=False
    )
    op.create_index("ix_enforcement_cases_uscc", "enforcement_cases", ["uscc"], unique=False)


def downgrade() -> None:
    op.drop_table("enforcement_cases")
    op.drop_table("findings")
    op.drop_table("complainant_contacts")
    op.drop_table("inspections")
    op.drop_table("complaints")
    op.drop_table("plant_plans")
    op.drop_table("permits")
    op.drop_table("number_counters")
    op.drop_table("inspection_plans")
    op.drop_table("guarantee_entries")
    op.drop_table("grade_records")
    op.drop_table("enterprises")
    op.drop_table("emergency_policies")
    op.drop_table("demands")
    op.drop_table("complaint_clusters")
    op.drop_table("alerts")
