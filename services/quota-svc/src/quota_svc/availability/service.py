"""Availability figures for the API and the dashboard (reads only)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import String, Table, and_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import Database, DriverStatement
from svc_common.types import utcnow

from quota_svc.availability.rules import Availability, ListedPool
from quota_svc.debts import rules as debt_rules
from quota_svc.debts import service as debts
from quota_svc.debts.models import Debt
from quota_svc.ledger import rules
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import Balance, PoolKind
from quota_svc.ledger.service import ENTRIES, POOLS, balance_of, credited_by_reclaims, pools_of
from quota_svc.policy.rules import Policy
from quota_svc.policy.service import policies_in_force, policy_columns, policy_of

Figures = list[tuple[ListedPool, Availability]]
#: The pools found and the policy in force in each district asked for.
Found = tuple[Figures, dict[str, Policy]]


async def availability(
    db: Database,
    districts: list[str],
    pollutant: str,
    default: Policy,
    *,
    district_pools_only: bool = False,
) -> Figures:
    """Every pool of the districts, with each district's pool shown (empty)
    even before it has been created, so the dashboard lists all districts.
    On PostgreSQL one statement on the driver (`_FIGURES`), elsewhere one per
    part through SQLAlchemy; the same rules either way."""
    if not districts:
        return []
    if db.on_asyncpg:
        found, policies = await _figures_on_driver(db, districts, pollutant, default)
    else:
        async with db.session() as s:
            found, policies = await _figures_in_session(s, districts, pollutant, default)
    pools = {p.id: (p, a) for p, a in found}
    for d in districts:
        pid = rules.district_pool_id(d, pollutant)
        if pid not in pools:
            pools[pid] = (_empty_pool(pid, d, pollutant), _figures(Balance(), policies[d], 0, 0, 0))
    return [
        pools[pid]
        for pid in sorted(pools)
        if not district_pools_only or pools[pid][0].kind == PoolKind.DISTRICT
    ]


def _empty_pool(pid: str, district: str, pollutant: str) -> ListedPool:
    return ListedPool(pid, district, pollutant, PoolKind.DISTRICT.value, None)


def _listed(p: Pool) -> ListedPool:
    return ListedPool(p.id, p.district, p.pollutant, p.kind, p.park_id)


def _figures(bal: Balance, policy: Policy, reclaimed: int, debt: int, overdue: int) -> Availability:
    return Availability(bal, policy.offset_ratio_hundredths, reclaimed, debt, overdue)


async def _figures_in_session(
    s: AsyncSession, districts: list[str], pollutant: str, default: Policy
) -> Found:
    pools = await pools_of(s, districts, pollutant)
    ids = [p.id for p in pools]
    reclaimed = await credited_by_reclaims(s, ids)
    owed = await debts.outstanding_by_pool(s, ids)
    policies = await policies_in_force(s, districts, pollutant, utcnow(), default)
    out = []
    for p in pools:
        debt, overdue = owed.get(p.id, (0, 0))
        bal = balance_of(p) if p.credited_kg is not None else Balance()
        figures = _figures(bal, policies[p.district], reclaimed.get(p.id, 0), debt, overdue)
        out.append((_listed(p), figures))
    return out, policies


_DEBTS = cast(Table, Debt.__table__)
#: The districts asked for, one row each at least: a district with no pool
#: yet still gets its policy in force.
_WANTED = (
    func.unnest(bindparam("districts", type_=ARRAY(String)))
    .table_valued("district")
    .render_derived(name="wanted")
)


def _open_debts(column: Any) -> Any:
    """The pool's open debts' `column`, oldest first, as an array."""
    return (
        select(func.array_agg(aggregate_order_by(column, _DEBTS.c.id)))
        .where(_DEBTS.c.pool_id == POOLS.c.id, _DEBTS.c.status == debt_rules.DebtStatus.OPEN.value)
        .scalar_subquery()
    )


#: Per pool of the districts: its balance, what reclaims and reduction credits
#: gave it, its open debts and the policy in force (the reservation's own
#: columns: one rule, one SQL form).
_FIGURES = DriverStatement(
    select(
        _WANTED.c.district.label("wanted"),
        POOLS.c.id,
        POOLS.c.district,
        POOLS.c.pollutant,
        POOLS.c.kind,
        POOLS.c.park_id,
        POOLS.c.credited_kg,
        POOLS.c.reserved_kg,
        POOLS.c.allocated_kg,
        select(func.coalesce(func.sum(ENTRIES.c.amount_kg), 0))
        .where(
            ENTRIES.c.pool_id == POOLS.c.id,
            ENTRIES.c.code.in_(rules.RECLAIM_CODES),
        )
        .scalar_subquery()
        .label("reclaimed_kg"),
        _open_debts(_DEBTS.c.amount_kg - _DEBTS.c.repaid_kg - _DEBTS.c.withdrawn_kg).label(
            "debts_left_kg"
        ),
        _open_debts(_DEBTS.c.due_at).label("debts_due_at"),
        *policy_columns(_WANTED.c.district, bindparam("pollutant")),
    )
    .select_from(
        _WANTED.outerjoin(
            POOLS,
            and_(
                POOLS.c.district == _WANTED.c.district, POOLS.c.pollutant == bindparam("pollutant")
            ),
        )
    )
    .order_by(POOLS.c.id)
)


async def _figures_on_driver(
    db: Database, districts: list[str], pollutant: str, default: Policy
) -> Found:
    now = utcnow()
    rows: list[Any] = await db.fetch_alone(
        _FIGURES, {"districts": sorted(set(districts)), "pollutant": pollutant, "at": now}
    )
    out: Figures = []
    policies: dict[str, Policy] = {}
    for r in rows:
        policy = policies[r["wanted"]] = policy_of(r, pollutant, default)
        if r["id"] is None:  # no pool in this district yet: only its policy
            continue
        pool = ListedPool(r["id"], r["district"], r["pollutant"], r["kind"], r["park_id"])
        left, due = r["debts_left_kg"] or [], r["debts_due_at"] or []
        debt, overdue = debt_rules.owed(zip(left, due, strict=True), now)
        bal = Balance(r["credited_kg"], r["reserved_kg"], r["allocated_kg"])
        out.append((pool, _figures(bal, policy, int(r["reclaimed_kg"]), debt, overdue)))
    return out, policies
