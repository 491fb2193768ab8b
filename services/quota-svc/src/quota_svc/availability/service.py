"""Availability figures for the API and the dashboard (reads only)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.types import utcnow

from quota_svc.availability.rules import Availability
from quota_svc.debts import service as debts
from quota_svc.ledger import rules
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import Balance, PoolKind
from quota_svc.ledger.service import balance_of, credited_by_reclaims, pools_of
from quota_svc.policy.rules import Policy
from quota_svc.policy.service import policies_in_force


async def availability(
    s: AsyncSession,
    districts: list[str],
    pollutant: str,
    default: Policy,
    *,
    district_pools_only: bool = False,
) -> list[tuple[Pool, Availability]]:
    """Every pool of the districts, with each district's pool shown (empty)
    even before it has been created, so the dashboard lists all districts."""
    pools = {p.id: p for p in await pools_of(s, districts, pollutant)}
    for d in districts:
        pid = rules.district_pool_id(d, pollutant)
        if pid not in pools:
            pools[pid] = Pool(
                id=pid,
                district=d,
                pollutant=pollutant,
                kind=PoolKind.DISTRICT.value,
                park_id=None,
                credited_kg=0,
                reserved_kg=0,
                allocated_kg=0,
            )
    chosen = [
        p
        for p in sorted(pools.values(), key=lambda p: p.id)
        if not district_pools_only or p.kind == PoolKind.DISTRICT
    ]
    reclaimed = await credited_by_reclaims(s, [p.id for p in chosen])
    owed = await debts.outstanding_by_pool(s, [p.id for p in chosen])
    policies = await policies_in_force(
        s, [p.district for p in chosen], pollutant, utcnow(), default
    )
    out = []
    for p in chosen:
        bal = balance_of(p) if p.credited_kg is not None else Balance()
        debt, overdue = owed.get(p.id, (0, 0))
        ratio_h = policies[p.district].offset_ratio_hundredths
        out.append((p, Availability(bal, ratio_h, reclaimed.get(p.id, 0), debt, overdue)))
    return out
