"""Ledger: pools, journal, district settings, reservations, reclaims, adjustments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import BigIntPK, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("status IN ('held', 'allocated')")


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("park_id", sa.String(64), nullable=True),
        sa.Column("credited_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("allocated_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_effective_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("credited_kg >= 0", name="ck_pools_credited"),
        sa.CheckConstraint("reserved_kg >= 0", name="ck_pools_reserved"),
        sa.CheckConstraint("allocated_kg >= 0", name="ck_pools_allocated"),
        sa.CheckConstraint(
            "credited_kg - reserved_kg - allocated_kg >= 0", name="ck_pools_available"
        ),
    )
    op.create_index("ix_pools_district", "pools", ["district"])
    op.create_table(
        "journal_entries",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("pool_id", sa.String(120), sa.ForeignKey("pools.id"), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("idempotency_id", sa.String(200), nullable=False, unique=True),
        sa.Column("reservation_id", sa.String(36), nullable=True),
        sa.Column("reclaim_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("effective_at", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("credited_after_kg", sa.BigInteger, nullable=False),
        sa.Column("reserved_after_kg", sa.BigInteger, nullable=False),
        sa.Column("allocated_after_kg", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_journal_pool_effective", "journal_entries", ["pool_id", "effective_at", "id"]
    )
    op.create_index("ix_journal_district", "journal_entries", ["district", "pollutant", "id"])
    op.create_table(
        "district_settings",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("offset_ratio_hundredths", sa.Integer, nullable=False),
        sa.Column("hold_days", sa.Integer, nullable=False),
        sa.Column("effective_from", UTCDateTime, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("offset_ratio_hundredths > 0", name="ck_settings_ratio"),
        sa.CheckConstraint("hold_days > 0", name="ck_settings_hold"),
    )
    op.create_index(
        "ix_settings_lookup", "district_settings", ["district", "pollutant", "effective_from"]
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_id", sa.String(200), nullable=False, unique=True),
        sa.Column("project_ref", sa.String(100), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("filing_id", sa.String(100), nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("increment_kg", sa.BigInteger, nullable=False),
        sa.Column("offset_ratio_hundredths", sa.Integer, nullable=False),
        sa.Column("held_kg", sa.BigInteger, nullable=False),
        sa.Column("allocated_kg", sa.BigInteger, nullable=False),
        sa.Column("released_kg", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("release_reason", sa.String(20), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'allocated', 'released', 'expired')", name="ck_res_status"
        ),
        sa.CheckConstraint("allocated_kg + released_kg <= held_kg", name="ck_res_amounts"),
    )
    op.create_index(
        "uq_reservations_live_project",
        "reservations",
        ["project_ref"],
        unique=True,
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )
    op.create_index("ix_reservations_due", "reservations", ["status", "expires_at"])
    op.create_table(
        "reclaims",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("permit_id", sa.String(100), nullable=True),
        sa.Column("source_event_id", sa.String(64), nullable=True, unique=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("reject_reason", sa.Text, nullable=True),
        sa.CheckConstraint("amount_kg > 0", name="ck_reclaims_amount"),
    )
    op.create_index("ix_reclaims_district", "reclaims", ["district"])
    op.create_table(
        "adjustments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "adjustments",
        "reclaims",
        "reservations",
        "district_settings",
        "journal_entries",
        "pools",
    ):
        op.drop_table(table)
