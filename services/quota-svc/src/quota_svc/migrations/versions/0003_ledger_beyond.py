"""The ledger beyond the registries: lots and their movements (lineage), air
quality and its ratio table, advance limits and debts, swaps, holdings and
trades, the public register (queue and hash chain). Existing balances become
opening lots, existing holds and allocations draw on them.

Revision ID: 0003
Revises: common_v2
Create Date: 2026-12-01
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from svc_common.types import BigIntPK, JSONType, UTCDateTime, utcnow

revision: str = "0003"
down_revision: str | None = "common_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIVE_YEARS = dt.timedelta(days=5 * 365 + 1)
_OPEN = sa.text("available_kg > 0")

#: The status → ratio table an administrator starts from (Tianjin 2023: 1×,
#: 1.5×, 2–2.5× by the district's air quality).
DEFAULT_RATIOS = {
    "attained": 100,
    "slightly_exceeded": 150,
    "exceeded": 200,
    "severely_exceeded": 250,
}


def upgrade() -> None:
    op.create_table(
        "lots",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(80), nullable=False, unique=True),
        sa.Column("pool_id", sa.String(120), sa.ForeignKey("pools.id"), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("original_kg", sa.BigInteger, nullable=False),
        sa.Column("available_kg", sa.BigInteger, nullable=False),
        sa.Column("held_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("allocated_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("out_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("repaid_kg", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("parent_lot_id", sa.BigInteger, nullable=True),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("permit_id", sa.String(100), nullable=True),
        sa.Column("source_event_id", sa.String(64), nullable=True),
        sa.Column("reclaim_id", sa.String(36), nullable=True),
        sa.Column("ref", sa.String(80), nullable=True),
        sa.Column("confirmed_by", sa.String(400), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "available_kg = original_kg - held_kg - allocated_kg - out_kg", name="ck_lots_balance"
        ),
        sa.CheckConstraint(
            "available_kg >= 0 AND held_kg >= 0 AND allocated_kg >= 0 AND out_kg >= 0",
            name="ck_lots_nonnegative",
        ),
    )
    op.create_index("ix_lots_pool", "lots", ["pool_id", "id"])
    op.create_index(
        "ix_lots_open", "lots", ["pool_id", "id"], postgresql_where=_OPEN, sqlite_where=_OPEN
    )
    op.create_index("ix_lots_district", "lots", ["district", "pollutant", "id"])
    op.create_table(
        "lot_movements",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("lot_id", sa.BigInteger, nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("reservation_id", sa.String(36), nullable=True),
        sa.Column("ref", sa.String(80), nullable=True),
        sa.Column("counter_lot_id", sa.BigInteger, nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_movements_lot", "lot_movements", ["lot_id", "id"])
    op.create_index("ix_movements_reservation", "lot_movements", ["reservation_id"])
    op.create_index("ix_movements_ref", "lot_movements", ["ref"])
    op.add_column("reservations", sa.Column("lots", JSONType, nullable=True))
    op.add_column("journal_entries", sa.Column("ref", sa.String(80), nullable=True))

    # A permit event may free several pollutants: one candidate per pollutant.
    with op.batch_alter_table("reclaims", copy_from=_reclaims_0002()) as b:
        b.create_unique_constraint("uq_reclaims_event_pollutant", ["source_event_id", "pollutant"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # PostgreSQL alters in place: drop the old UNIQUE by its generated name.
        names = bind.execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'reclaims'::regclass "
                "AND contype = 'u' AND conname <> 'uq_reclaims_event_pollutant'"
            )
        ).scalars()
        for name in list(names):
            op.drop_constraint(name, "reclaims", type_="unique")

    op.create_table(
        "air_quality",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("effective_from", UTCDateTime, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_air_quality_lookup", "air_quality", ["district", "effective_from"])
    ratios = op.create_table(
        "air_quality_ratios",
        sa.Column("status", sa.String(24), primary_key=True),
        sa.Column("offset_ratio_hundredths", sa.Integer, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("offset_ratio_hundredths > 0", name="ck_aq_ratio"),
    )
    op.add_column(
        "district_settings",
        sa.Column("follows_air_quality", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "advance_limits",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("limit_kg", sa.BigInteger, nullable=False),
        sa.Column("term_days", sa.Integer, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("limit_kg >= 0 AND term_days > 0", name="ck_advance_limits"),
    )
    op.create_index("ix_advance_limits", "advance_limits", ["district", "pollutant", "id"])
    op.create_table(
        "debts",
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
    )
    op.create_index("ix_debts_pool", "debts", ["pool_id", "status", "created_at"])
    op.create_table(
        "swaps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("from_district", sa.String(6), nullable=False),
        sa.Column("to_district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", UTCDateTime, nullable=False),
        sa.Column("from_approved_by", sa.String(200), nullable=True),
        sa.Column("from_approved_at", UTCDateTime, nullable=True),
        sa.Column("to_approved_by", sa.String(200), nullable=True),
        sa.Column("to_approved_at", UTCDateTime, nullable=True),
        sa.Column("effective_at", UTCDateTime, nullable=True),
        sa.Column("cancelled_by", sa.String(200), nullable=True),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=True),
        sa.Column("settled_at", UTCDateTime, nullable=True),
        sa.Column("lots", JSONType, nullable=True),
        sa.CheckConstraint("amount_kg > 0", name="ck_swaps_amount"),
    )
    op.create_index("ix_swaps_due", "swaps", ["status", "effective_at"])
    op.create_table(
        "holdings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("original_kg", sa.BigInteger, nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("rights_kg", sa.BigInteger, nullable=False),
        sa.Column("offset_ratio_hundredths", sa.Integer, nullable=False),
        sa.Column("reservation_id", sa.String(36), nullable=True),
        sa.Column("trade_id", sa.String(36), nullable=True),
        sa.Column("lots", JSONType, nullable=True),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.Column("valid_until", UTCDateTime, nullable=False),
        sa.CheckConstraint("amount_kg >= 0 AND rights_kg >= 0", name="ck_holdings_amounts"),
    )
    op.create_index("ix_holdings_uscc", "holdings", ["uscc", "pollutant", "acquired_at"])
    op.create_index("ix_holdings_pool", "holdings", ["pool_id"])
    op.create_table(
        "trades",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("seller_uscc", sa.String(18), nullable=False),
        sa.Column("buyer_uscc", sa.String(18), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("buyer_district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("offset_ratio_hundredths", sa.Integer, nullable=True),
        sa.Column("seller_rights_kg", sa.BigInteger, nullable=True),
        sa.Column("buyer_rights_kg", sa.BigInteger, nullable=True),
        sa.Column("price_fen_per_t", sa.BigInteger, nullable=False),
        sa.Column("contract_ref", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("refusal", sa.String(40), nullable=True),
        sa.Column("refusal_detail", sa.Text, nullable=True),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("amount_kg > 0", name="ck_trades_amount"),
    )
    op.create_index("ix_trades_district", "trades", ["district", "proposed_at"])
    op.create_table(
        "register_queue",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("district", sa.String(6), nullable=True),
        sa.Column("pollutant", sa.String(20), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=True),
        sa.Column("refs", sa.Text, nullable=False),
    )
    op.create_table(
        "register_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("district", sa.String(6), nullable=True),
        sa.Column("pollutant", sa.String(20), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=True),
        sa.Column("refs", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_register_district", "register_entries", ["district", "seq"])

    now = utcnow()
    op.bulk_insert(
        ratios,
        [
            {"status": s, "offset_ratio_hundredths": r, "set_by": "system", "set_at": now}
            for s, r in DEFAULT_RATIOS.items()
        ],
    )
    _opening_lots(bind)


def _reclaims_0002() -> sa.Table:
    """The reclaims table as 0002 made it, minus the one-candidate-per-event
    UNIQUE that this revision replaces (SQLite rebuilds the table from it)."""
    return sa.Table(
        "reclaims",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("pollutant", sa.String(20), nullable=False),
        sa.Column("pool_id", sa.String(120), nullable=False),
        sa.Column("amount_kg", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("permit_id", sa.String(100), nullable=True),
        sa.Column("source_event_id", sa.String(64), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("reject_reason", sa.Text, nullable=True),
        sa.CheckConstraint("amount_kg > 0", name="ck_reclaims_amount"),
        sa.Index("ix_reclaims_district", "district"),
    )


def _opening_lots(bind: sa.Connection) -> None:
    """A ledger that existed before lots: each pool's credited amount becomes
    one opening lot carrying its holds and allocations, so every invariant
    (lots sum to the pool, lineage sums to allocations) holds from here on."""
    pools = bind.execute(
        sa.text(
            "SELECT id, district, pollutant, credited_kg, reserved_kg, allocated_kg, created_at "
            "FROM pools WHERE credited_kg > 0 ORDER BY id"
        ).columns(created_at=UTCDateTime)
    ).all()
    lots = sa.table(
        "lots",
        *(
            sa.column(c)
            for c in (
                "id",
                "serial",
                "pool_id",
                "district",
                "pollutant",
                "source",
                "original_kg",
                "available_kg",
                "held_kg",
                "allocated_kg",
                "out_kg",
                "note",
            )
        ),
        sa.column("created_at", UTCDateTime),
    )
    for p in pools:
        bind.execute(
            lots.insert().values(
                serial=f"{p.id}:L000000",
                pool_id=p.id,
                district=p.district,
                pollutant=p.pollutant,
                source="opening",
                original_kg=p.credited_kg,
                available_kg=p.credited_kg - p.reserved_kg - p.allocated_kg,
                held_kg=p.reserved_kg,
                allocated_kg=p.allocated_kg,
                out_kg=0,
                note="opening balance when lots were introduced",
                created_at=p.created_at,
            )
        )
        lot_id = bind.execute(
            sa.text("SELECT id FROM lots WHERE pool_id = :p"), {"p": p.id}
        ).scalar_one()
        live = bind.execute(
            sa.text(
                "SELECT id, uscc, district, pollutant, status, held_kg, allocated_kg, "
                "increment_kg, offset_ratio_hundredths, created_at, resolved_at FROM reservations "
                "WHERE pool_id = :p AND status IN ('held', 'allocated')"
            ).columns(created_at=UTCDateTime, resolved_at=UTCDateTime),
            {"p": p.id},
        ).all()
        res = sa.table("reservations", sa.column("id"), sa.column("lots", JSONType))
        moves = sa.table(
            "lot_movements",
            *(sa.column(c) for c in ("lot_id", "pool_id", "code", "amount_kg", "reservation_id")),
            sa.column("at", UTCDateTime),
        )
        holdings = sa.table(
            "holdings",
            *(
                sa.column(c)
                for c in (
                    "id",
                    "uscc",
                    "district",
                    "pollutant",
                    "pool_id",
                    "source",
                    "original_kg",
                    "amount_kg",
                    "rights_kg",
                    "offset_ratio_hundredths",
                    "reservation_id",
                )
            ),
            sa.column("lots", JSONType),
            sa.column("acquired_at", UTCDateTime),
            sa.column("valid_until", UTCDateTime),
        )
        for r in live:
            kg = r.held_kg if r.status == "held" else r.allocated_kg
            bind.execute(res.update().where(res.c.id == r.id).values(lots=[[lot_id, r.held_kg]]))
            steps = [("hold", r.held_kg)]
            if r.status == "allocated":
                steps += [("allocate", r.allocated_kg), ("release", r.held_kg - r.allocated_kg)]
            for code, amount in steps:
                if amount:
                    bind.execute(
                        moves.insert().values(
                            lot_id=lot_id,
                            pool_id=p.id,
                            code=code,
                            amount_kg=amount,
                            reservation_id=r.id,
                            at=r.created_at,
                        )
                    )
            if r.status == "allocated":
                bind.execute(
                    holdings.insert().values(
                        id=r.id,
                        uscc=r.uscc,
                        district=r.district,
                        pollutant=r.pollutant,
                        pool_id=p.id,
                        source="allocation",
                        original_kg=kg,
                        amount_kg=kg,
                        rights_kg=min(r.increment_kg, kg * 100 // r.offset_ratio_hundredths),
                        offset_ratio_hundredths=r.offset_ratio_hundredths,
                        reservation_id=r.id,
                        lots=[[lot_id, kg]],
                        acquired_at=r.resolved_at or r.created_at,
                        valid_until=(r.resolved_at or r.created_at) + FIVE_YEARS,
                    )
                )


def downgrade() -> None:
    for table in (
        "register_entries",
        "register_queue",
        "trades",
        "holdings",
        "swaps",
        "debts",
        "advance_limits",
        "air_quality_ratios",
        "air_quality",
        "lot_movements",
        "lots",
    ):
        op.drop_table(table)
    op.drop_column("district_settings", "follows_air_quality")
    op.drop_column("journal_entries", "ref")
    op.drop_column("reservations", "lots")
