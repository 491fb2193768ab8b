"""Parks registered with a 0 t VOCs sub-pool get their (empty) pool.

Until the handler of `eia.park.registered` made the park's pool whatever
moved into it (`events.carve_park_subpool`), a park registered with 0 t got
none: nothing moved, only `quota.subpool_funded` was announced. The pool
being the ledger's record that a park is registered
(`ledger.service.registered_park_district`), every transfer, reservation or
check naming such a park is refused (422) as naming an unregistered one.

The ledger keeps no other record of a registration, and reads no other
service's database: the parks are found in what it announced, the outbox's
`quota.subpool_funded.v1` rows, each naming its park, district and pool.
Each such pool still missing is made as the handler makes it now: empty,
of kind `park`, no journal entry (nothing moved), created when the
registration was applied (the row's `created_at`). Limit: sent outbox rows
are deleted after `OUTBOX_RETENTION_DAYS` (7 by default); a park whose row
is gone is not found here (docs/quota-svc.md says what to do then).

Idempotent: a pool already there (made since, or by a park funded with
more than 0 t) is left as it is, and running it again makes nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import logging
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite
from svc_common.types import JSONType, UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

#: The event the park's registration announced, with or without quota moved.
_FUNDED = "quota.subpool_funded.v1"
#: As `ledger.rules` checks them (kept here: a migration does not change
#: with the code after it).
_PARK = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DISTRICT = re.compile(r"^[0-9]{6}$")

_OUTBOX = sa.table(
    "outbox",
    sa.column("seq", sa.BigInteger),
    sa.column("event_type", sa.String),
    sa.column("envelope", JSONType),
    sa.column("created_at", UTCDateTime),
)
_POOLS = sa.table(
    "pools",
    sa.column("id", sa.String),
    sa.column("district", sa.String),
    sa.column("pollutant", sa.String),
    sa.column("kind", sa.String),
    sa.column("park_id", sa.String),
    sa.column("credited_kg", sa.BigInteger),
    sa.column("reserved_kg", sa.BigInteger),
    sa.column("allocated_kg", sa.BigInteger),
    sa.column("created_at", UTCDateTime),
)


def _pool(data: Any, at: Any) -> dict[str, Any] | None:
    """The park's pool an announcement names, None if it names none the
    ledger would build (then it is no registration this ledger applied)."""
    if not isinstance(data, dict):
        return None
    district, pollutant, park_id = data.get("district"), data.get("pollutant"), data.get("park_id")
    if not (
        isinstance(district, str)
        and _DISTRICT.match(district)
        and pollutant == "VOCs"
        and isinstance(park_id, str)
        and _PARK.match(park_id)
        and data.get("pool_id") == f"{district}:{pollutant}:park:{park_id}"
    ):
        return None
    return {
        "id": data["pool_id"],
        "district": district,
        "pollutant": pollutant,
        "kind": "park",
        "park_id": park_id,
        "credited_kg": 0,
        "reserved_kg": 0,
        "allocated_kg": 0,
        "created_at": at,
    }


def upgrade() -> None:
    bind = op.get_bind()
    announced = bind.execute(
        sa.select(_OUTBOX.c.envelope, _OUTBOX.c.created_at)
        .where(_OUTBOX.c.event_type == _FUNDED)
        .order_by(_OUTBOX.c.seq)
    )
    wanted: dict[str, dict[str, Any]] = {}
    for envelope, at in announced:
        data = envelope.get("data") if isinstance(envelope, dict) else None
        pool = _pool(data, at)
        if pool is not None:
            wanted.setdefault(pool["id"], pool)  # the first registration's time
    if not wanted:
        return
    existing = set(
        bind.execute(sa.select(_POOLS.c.id).where(_POOLS.c.id.in_(sorted(wanted)))).scalars()
    )
    missing = [pool for pool_id, pool in sorted(wanted.items()) if pool_id not in existing]
    if not missing:
        return
    # A replica still running may make one of them meanwhile: it wins.
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    bind.execute(insert(_POOLS).values(missing).on_conflict_do_nothing())
    log.info("made the empty pools of %d parks registered with 0 t", len(missing))


def downgrade() -> None:
    # The pools stay: each is the ledger's record that its park is
    # registered, as the handler makes it for a 0 t park today, and may
    # have been funded since.
    pass
