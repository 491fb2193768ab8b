"""Ledger API: baseline, transfers between a district's pools, the journal,
balances at any moment and reconciliation."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.context import new_id
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import Conflict, field_error
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Page,
    decode_int_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import Runtime, get_db, runtime
from svc_common.types import AwareDateTime, kg_to_tonnes, tonnes_to_kg, utcnow

from quota_svc.api import (
    READERS,
    OptionalPollutant,
    PollutantPath,
    PollutantQuery,
    check_district,
    check_pollutant,
    readable_districts,
)
from quota_svc.credits import Provenance, credit
from quota_svc.ledger import service
from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.ledger.rules import (
    DISTRICT_OR_RESERVE_PATTERN,
    POOL_PATTERN,
    EntryCode,
    Overdraft,
)
from quota_svc.ledger.schemas import (
    BalanceOut,
    BaselineIn,
    DistrictBalanceOut,
    EntryOut,
    ReconciliationOut,
    TransferIn,
)
from quota_svc.ledger.service import PoolRef

router = APIRouter(prefix="/quota", tags=["ledger"])


def pool_ref(district: str, pollutant: str, selector: str) -> PoolRef:
    """`district`, `reserve` or `park:<park_id>` → the pool it names."""
    if selector == "district":
        return PoolRef.district_pool(district, pollutant)
    if selector == "reserve":
        return PoolRef.reserve(district, pollutant)
    return PoolRef.park(district, pollutant, selector.removeprefix("park:"))


def overdraft_problem(od: Overdraft) -> Conflict:
    avail, short = kg_to_tonnes(od.available_kg), kg_to_tonnes(od.shortfall_kg)
    return Conflict(
        msg(
            f"pool {od.pool_id} has {avail} t available, short by {short} t",
            f"总量池 {od.pool_id} 可用 {avail} 吨，缺口 {short} 吨",
        ),
        pool_id=od.pool_id,
        available_t=str(kg_to_tonnes(od.available_kg)),
        shortfall_t=str(kg_to_tonnes(od.shortfall_kg)),
    )


@router.post("/pools/{district}/{pollutant}/baseline", status_code=201, response_model=EntryOut)
async def credit_baseline(
    district: DistrictCode,
    pollutant: PollutantPath,
    body: BaselineIn,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> EntryOut:
    check_district(district)
    principal.require_district(district)
    check_pollutant(pollutant)
    now = utcnow()
    if body.effective_at is not None and body.effective_at > now:
        raise field_error("effective_at", msg("must not be in the future", "不得晚于当前时间"))
    ref = PoolRef.district_pool(district, pollutant)
    async with db.transaction() as s:
        pool = (await service.lock_pools(s, ref))[ref.id]
        last = pool.last_effective_at
        if body.effective_at is not None and last is not None and body.effective_at < last:
            raise field_error(
                "effective_at",
                msg(
                    f"must not be before the pool's latest entry ({last.isoformat()}): "
                    "the journal is append-only in time",
                    f"不得早于该总量池最近一笔分录（{last.isoformat()}）：台账按时间只追加",
                ),
            )
        entry, _ = await credit(
            s,
            pool,
            EntryCode.BASELINE,
            tonnes_to_kg(body.amount_t),
            Provenance("baseline", confirmed_by=principal.sub, note=body.note),
            idempotency_id=f"api:{new_id()}",
            actor=principal,
            effective_at=body.effective_at,
            note=body.note,
        )
        service.emit_balance_changed(s, pool, EntryCode.BASELINE)
        record_audit(
            s,
            principal,
            "quota.baseline",
            "pool",
            ref.id,
            {"amount_kg": entry.amount_kg, "effective_at": entry.effective_at.isoformat()},
        )
        await s.flush()
    return EntryOut.of(entry)


@router.post(
    "/pools/{district}/{pollutant}/transfers", status_code=201, response_model=list[EntryOut]
)
async def transfer_between_pools(
    district: DistrictCode,
    pollutant: PollutantPath,
    body: TransferIn,
    principal: Principal = Depends(require("admin")),
    db: Database = Depends(get_db),
) -> list[EntryOut]:
    """Only an admin moves quota into or out of the priority reserve or a park."""
    check_district(district)
    principal.require_district(district)
    check_pollutant(pollutant)
    if body.source == body.target:
        raise field_error("target", msg("must differ from source", "不得与转出池相同"))
    source = pool_ref(district, pollutant, body.source)
    target = pool_ref(district, pollutant, body.target)
    idem = f"api:{new_id()}"
    try:
        async with db.transaction() as s:
            for field, ref in (("source", source), ("target", target)):
                # Only a registered park of this district has a sub-pool.
                if ref.park_id is not None and (
                    problem := await service.park_problem(s, district, ref.park_id)
                ):
                    raise field_error(field, problem)
            await service.transfer(
                s,
                source,
                target,
                tonnes_to_kg(body.amount_t),
                idempotency_id=idem,
                actor=principal.sub,
                note=body.note,
            )
            record_audit(
                s,
                principal,
                "quota.transfer",
                "pool",
                source.id,
                {"target": target.id, "amount_kg": tonnes_to_kg(body.amount_t)},
            )
            await s.flush()
            entries = (
                await s.scalars(
                    select(JournalEntry)
                    .where(JournalEntry.idempotency_id.in_([idem + ":out", idem + ":in"]))
                    .order_by(JournalEntry.id)
                )
            ).all()
    except Overdraft as od:
        raise overdraft_problem(od) from od
    return [EntryOut.of(e) for e in entries]


@router.get("/journal", response_model=Page[EntryOut])
async def read_journal(
    district: DistrictCode | None = None,
    pollutant: OptionalPollutant = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[EntryOut]:
    districts = readable_districts(principal, district)
    after = decode_int_cursor(cursor)
    stmt = select(JournalEntry).where(JournalEntry.district.in_(districts))
    if pollutant:
        stmt = stmt.where(JournalEntry.pollutant == check_pollutant(pollutant))
    if after is not None:
        stmt = stmt.where(keyset_after(after, JournalEntry.id))
    async with db.session() as s:
        rows = list((await s.scalars(stmt.order_by(JournalEntry.id).limit(limit + 1))).all())
    return keyset_page(rows, limit, lambda e: e.id, EntryOut.of)


#: Moments one history request may ask for: two years of month starts and now.
MAX_MOMENTS = 25


@router.get("/balances", response_model=list[DistrictBalanceOut])
async def read_balance_history(
    pollutant: PollutantQuery,
    at: list[AwareDateTime] = Query(
        default_factory=list,
        max_length=MAX_MOMENTS,
        description="the moments, repeated (`at=…&at=…`), at most 25; none: now",
    ),
    district: DistrictCode | None = None,
    pool: str = Query("district", pattern=DISTRICT_OR_RESERVE_PATTERN),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> list[DistrictBalanceOut]:
    """The balances of every district the caller may read (or one) at each
    moment asked for (default now), as a trend chart needs them: one request
    and one statement instead of one request per district and moment."""
    check_pollutant(pollutant)
    districts = readable_districts(principal, district)
    moments = list(dict.fromkeys(at)) or [utcnow()]
    refs = {pool_ref(d, pollutant, pool).id: d for d in districts}
    async with db.session() as s:
        balances = await service.balances_at_many(s, list(refs), moments)
    return [
        DistrictBalanceOut.of(pool_id, balances[(pool_id, when)], when, district=d)
        for pool_id, d in refs.items()
        for when in moments
    ]


@router.get("/balances/{district}/{pollutant}", response_model=BalanceOut)
async def read_balance(
    district: DistrictCode,
    pollutant: PollutantPath,
    at: AwareDateTime | None = None,
    pool: str = Query("district", pattern=POOL_PATTERN),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> BalanceOut:
    """The balance at `at` (default now): the balance after the last journal
    entry effective at or before it."""
    check_district(district)
    check_pollutant(pollutant)
    principal.require_district(district)
    when = at or utcnow()  # AwareDateTime: a time without its offset is refused (422)
    ref = pool_ref(district, pollutant, pool)
    async with db.session() as s:
        # As a transfer into it: a park never registered, or registered in
        # another district, has no pool here (a mistyped id read as 0 t).
        # A pool made before that check (docs/quota-svc.md) is still read.
        if (
            ref.park_id is not None
            and (problem := await service.park_problem(s, district, ref.park_id))
            and await s.get(Pool, ref.id) is None
        ):
            raise field_error("pool", problem)
        bal = (await service.balances_at_many(s, [ref.id], [when]))[(ref.id, when)]
    return BalanceOut.of(ref.id, bal, when)


class CheckOut(BaseModel):
    number: int
    code: str = Field(description="The check's name for machines (`journal_replays_to_balances`)")
    description: str = Field(
        description="What the check verifies, in the caller's language "
        "(Accept-Language: zh-CN by default, en on request)"
    )
    ok: bool
    failures: list[str]


class ReconciliationReport(BaseModel):
    ok: bool
    checked_at: dt.datetime
    checks: list[CheckOut]
    pools: list[ReconciliationOut]


@router.get("/reconciliation", response_model=ReconciliationReport)
async def reconciliation(
    district: DistrictCode | None = None,
    pollutant: OptionalPollutant = None,
    principal: Principal = Depends(require("auditor", "admin")),
    rt: Runtime = Depends(runtime),
) -> ReconciliationReport:
    """Run the numbered business checks now (the periodic job runs the same)
    and replay each pool's journal against its stored balance."""
    from quota_svc.reconciliation.service import run_checks

    if pollutant is not None:
        check_pollutant(pollutant)
    districts = readable_districts(principal, district)
    db = rt.db
    results = await run_checks(db, districts, service=rt.service)
    out = []
    # The pools and their journals as of one moment (see run_checks).
    async with db.snapshot() as s:
        pools = await service.pools_of(s, districts, pollutant)
        for p, rec in zip(pools, await service.reconcile_pools(s, pools), strict=True):
            out.append(
                ReconciliationOut(
                    pool_id=p.id,
                    ok=rec.ok,
                    entries=rec.entries,
                    stored=BalanceOut.of(p.id, rec.stored),
                    replayed=BalanceOut.of(p.id, rec.replayed),
                    broken_entry_ids=list(rec.broken_entry_ids),
                )
            )
    return ReconciliationReport(
        ok=all(r.ok for r in results) and all(p.ok for p in out),
        checked_at=utcnow(),
        checks=[
            CheckOut(
                number=r.number,
                code=r.code,
                description=r.description,
                ok=r.ok,
                failures=r.failures,
            )
            for r in results
        ],
        pools=out,
    )
