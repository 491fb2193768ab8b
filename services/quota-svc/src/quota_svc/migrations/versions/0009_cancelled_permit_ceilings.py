"""A closed plant's candidate made before the ledger kept ceilings gets the
row its cancellation writes today: the permit's ceiling of that pollutant,
0 after the cancellation.

Since migration 0006 a permit's cancellation keeps, in the transaction that
makes its candidates, a `permit_backing` row of each pollutant it frees:
0 kg permitted, 0 kg backed (`events.reclaim_on_cancel`). An export's
import refuses a `permit_cancelled` candidate without that row
(`exports.rules.NEEDS_CEILING`): so a ledger that held such a candidate
from before 0006 could not be restored from its own export. Each such
permit and pollutant still without a row gets it: district and time of its
cancellation's candidate, `last_event_id` the cancellation's event (a
redelivery changes nothing, as today), `freed_kg` what the permit's events
made candidates of (as migration 0008 counted it). A row already there is
left as it is; running it again makes nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite
from svc_common.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_RECLAIMS = sa.table(
    "reclaims",
    sa.column("id", sa.String),
    sa.column("district", sa.String),
    sa.column("pollutant", sa.String),
    sa.column("amount_kg", sa.BigInteger),
    sa.column("source", sa.String),
    sa.column("permit_id", sa.String),
    sa.column("source_event_id", sa.String),
    sa.column("created_at", UTCDateTime),
)
_BACKING = sa.table(
    "permit_backing",
    sa.column("permit_id", sa.String),
    sa.column("pollutant", sa.String),
    sa.column("district", sa.String),
    sa.column("amount_kg", sa.BigInteger),
    sa.column("backed_kg", sa.BigInteger),
    sa.column("freed_kg", sa.BigInteger),
    sa.column("last_event_id", sa.String),
    sa.column("updated_at", UTCDateTime),
)
#: As `reclaims.rules.ReclaimSource` (kept here: a migration does not change
#: with the code after it).
_CANCELLED = "permit_cancelled"
_EVENT_SOURCES = (_CANCELLED, "permit_changed")


def upgrade() -> None:
    bind = op.get_bind()
    kept = {tuple(r) for r in bind.execute(sa.select(_BACKING.c.permit_id, _BACKING.c.pollutant))}
    made = bind.execute(
        sa.select(_RECLAIMS)
        .where(_RECLAIMS.c.source.in_(_EVENT_SOURCES), _RECLAIMS.c.permit_id.is_not(None))
        .order_by(_RECLAIMS.c.created_at, _RECLAIMS.c.id)
    )
    freed: dict[tuple[str, str], int] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in made:
        key = (r.permit_id, r.pollutant)
        if key in kept:
            continue
        freed[key] = freed.get(key, 0) + int(r.amount_kg)
        if r.source == _CANCELLED and key not in rows:
            rows[key] = {
                "permit_id": r.permit_id,
                "pollutant": r.pollutant,
                "district": r.district,
                "amount_kg": 0,
                "backed_kg": 0,
                "last_event_id": r.source_event_id,
                "updated_at": r.created_at,
            }
    if not rows:
        return
    missing = [{**row, "freed_kg": freed[key]} for key, row in sorted(rows.items())]
    # A replica still running may write one of them meanwhile: it wins.
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    bind.execute(insert(_BACKING).values(missing).on_conflict_do_nothing())
    log.info("kept the 0 kg ceilings of %d cancelled permits' pollutants", len(missing))


def downgrade() -> None:
    # The rows stay: each is what the cancellation writes today.
    pass
