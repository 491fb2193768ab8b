"""quota-svc's own Prometheus figures: what is left to reserve per district
and pollutant, holds about to lapse, and whether each pool's balance still
agrees with its journal. Refreshed off the request path by svc_common's
metrics refresher (ServiceSpec.gauges); see docs/operations.md."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from svc_common.metrics import Family
from svc_common.service import Runtime
from svc_common.types import utcnow

from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.reservations.models import Reservation

#: How far ahead "expiring soon" looks.
EXPIRING_WITHIN = dt.timedelta(days=7)

AVAILABLE = Family(
    "quota_available_tonnes",
    "Quota left to reserve (credited − reserved − allocated), tonnes per year, "
    "by district, pollutant and pool kind (district, park, reserve)",
    ["district", "pollutant", "pool_kind"],
)
RESERVED = Family(
    "quota_reserved_tonnes",
    "Quota held for projects awaiting their decision, tonnes per year",
    ["district", "pollutant", "pool_kind"],
)
HOLDS_EXPIRING = Family(
    "quota_holds_expiring_7d",
    "Holds (预留) that lapse within 7 days unless their project is decided",
    ["district", "pollutant"],
)
HOLDS_EXPIRING_TONNES = Family(
    "quota_holds_expiring_7d_tonnes",
    "Tonnes held by the holds that lapse within 7 days",
    ["district", "pollutant"],
)
MISMATCHED_POOLS = Family(
    "quota_ledger_mismatched_pools",
    "Pools whose stored balance differs from the balance after their latest journal "
    "entry (0 is the only healthy value; GET /quota/reconciliation replays in full)",
)
FAMILIES = [AVAILABLE, RESERVED, HOLDS_EXPIRING, HOLDS_EXPIRING_TONNES, MISMATCHED_POOLS]


async def ledger_figures(rt: Runtime) -> None:
    now = utcnow()
    latest = (
        select(JournalEntry.id)
        .where(JournalEntry.pool_id == Pool.id)
        .order_by(JournalEntry.effective_at.desc(), JournalEntry.id.desc())
        .limit(1)
        .correlate(Pool)
        .scalar_subquery()
    )
    async with rt.db.session() as s:
        pools = (
            await s.execute(
                select(
                    Pool.district,
                    Pool.pollutant,
                    Pool.kind,
                    Pool.credited_kg,
                    Pool.reserved_kg,
                    Pool.allocated_kg,
                    JournalEntry.credited_after_kg,
                    JournalEntry.reserved_after_kg,
                    JournalEntry.allocated_after_kg,
                ).outerjoin(JournalEntry, JournalEntry.id == latest)
            )
        ).all()
        expiring = (
            await s.execute(
                select(
                    Reservation.district,
                    Reservation.pollutant,
                    func.count(),
                    func.coalesce(func.sum(Reservation.held_kg), 0),
                )
                .where(Reservation.status == "held", Reservation.expires_at < now + EXPIRING_WITHIN)
                .group_by(Reservation.district, Reservation.pollutant)
            )
        ).all()
    available: dict[tuple[str, ...], float] = {}
    reserved: dict[tuple[str, ...], float] = {}
    mismatched = 0
    for d, pol, kind, credited, res, alloc, c_after, r_after, a_after in pools:
        key = (d, pol, kind)
        available[key] = available.get(key, 0.0) + (credited - res - alloc) / 1000
        reserved[key] = reserved.get(key, 0.0) + res / 1000
        after = (c_after or 0, r_after or 0, a_after or 0)
        mismatched += (credited, res, alloc) != after
    name = rt.service
    AVAILABLE.publish(name, available)
    RESERVED.publish(name, reserved)
    # Every district and pollutant with a pool is reported, 0 included.
    pairs = {(d, pol) for d, pol, _k in available}
    counts = {(d, pol): (n, kg) for d, pol, n, kg in expiring}
    HOLDS_EXPIRING.publish(name, {p: counts.get(p, (0, 0))[0] for p in pairs | set(counts)})
    HOLDS_EXPIRING_TONNES.publish(
        name, {p: counts.get(p, (0, 0))[1] / 1000 for p in pairs | set(counts)}
    )
    MISMATCHED_POOLS.set(name, mismatched)
