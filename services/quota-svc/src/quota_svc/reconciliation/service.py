"""Running the numbered checks against the database, and the metric that
alerting watches (`quota_reconciliation_failed_checks`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

import structlog
from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import Database, in_chunks
from svc_common.metrics import SERVICE, Family

from quota_svc.debts import rules as debt_rules
from quota_svc.debts.models import Debt
from quota_svc.debts.rules import DebtStatus
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import DISTRICTS, Balance
from quota_svc.ledger.service import balance_of, reconcile_pools
from quota_svc.lots import rules as lot_rules
from quota_svc.lots.models import Lot, LotMovement
from quota_svc.lots.rules import Move
from quota_svc.reconciliation.rules import CHECKS, CheckResult
from quota_svc.register import rules as register_rules
from quota_svc.register.models import RegisterEntry
from quota_svc.register.service import chain_pending, public_fields
from quota_svc.reservations.models import Reservation
from quota_svc.trading.models import Holding

log = structlog.get_logger(__name__)

FAILED = Family(
    "quota_reconciliation_failed_checks",
    "Disagreements found by each numbered reconciliation check (R1–R6) at its last run "
    "(0: passed; GET /quota/reconciliation says which)",
    ["check"],
)
RUNS = Counter(
    "quota_reconciliation_runs_total", "Reconciliation runs by outcome", [SERVICE, "result"]
)


async def _journal(s: AsyncSession, pools: list[Pool], res: CheckResult) -> None:
    for rec in await reconcile_pools(s, pools):
        if not rec.ok:
            res.fail(f"pool {rec.pool_id}: stored {rec.stored}, journal {rec.replayed}")


async def _lots(s: AsyncSession, pools: list[Pool], res: CheckResult) -> None:
    rows = await s.execute(
        select(
            Lot.pool_id,
            func.sum(Lot.original_kg - Lot.out_kg),
            func.sum(Lot.held_kg),
            func.sum(Lot.allocated_kg),
        ).group_by(Lot.pool_id)
    )
    sums = {pid: Balance(int(c or 0), int(r or 0), int(a or 0)) for pid, c, r, a in rows}
    for p in pools:
        got = sums.get(p.id, Balance())
        if got != balance_of(p):
            res.fail(f"pool {p.id}: pool {balance_of(p)}, lots {got}")


async def _lineage(s: AsyncSession, pool_ids: set[str], res: CheckResult) -> None:
    # The pools' rows by their ids in chunks (`in_chunks`): an imported
    # ledger may hold more pools than one statement takes bind parameters.
    chunks = list(in_chunks(sorted(pool_ids)))
    moves: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for chunk in chunks:
        # A lot's movements are all in its pool: in one chunk, in order.
        for lot_id, code, kg in await s.execute(
            select(LotMovement.lot_id, LotMovement.code, LotMovement.amount_kg)
            .where(LotMovement.pool_id.in_(chunk))
            .order_by(LotMovement.id)
        ):
            moves[lot_id].append((code, kg))
    lots = [
        lot
        for chunk in chunks
        for lot in (await s.scalars(select(Lot).where(Lot.pool_id.in_(chunk)))).all()
    ]
    for lot in lots:
        replayed = lot_rules.replay(moves[lot.id], lot.original_kg)
        stored = {
            "available_kg": lot.available_kg,
            "held_kg": lot.held_kg,
            "allocated_kg": lot.allocated_kg,
            "out_kg": lot.out_kg,
        }
        if replayed != stored:
            res.fail(f"lot {lot.serial}: stored {stored}, movements {replayed}")
    live = [
        row
        for chunk in chunks
        for row in await s.execute(
            select(
                Reservation.id,
                Reservation.status,
                Reservation.held_kg,
                Reservation.allocated_kg,
                Reservation.lots,
            ).where(Reservation.pool_id.in_(chunk), Reservation.status.in_(["held", "allocated"]))
        )
    ]
    holding: dict[str, int] = {}
    for rid, status, held, allocated, drawn in live:
        want = held if status == "held" else allocated
        got = lot_rules.total(drawn or [])
        # An allocated reservation's lots still list what it held; the
        # allocated part is the oldest of them (checked via its holding).
        if got != held or want > got:
            res.fail(f"reservation {rid}: holds {held} kg ({want} kg {status}), lots {got} kg")
        if status == "held":
            holding[rid] = held
    await _held_by_movements(s, holding, res)


async def _held_by_movements(s: AsyncSession, holding: dict[str, int], res: CheckResult) -> None:
    """Each held reservation's lots hold, by the movements made for it, what
    it holds: a hold whose lots were never moved for it (a write cut short)
    would otherwise pass, the pool, its lots and the row each adding up."""
    moved: dict[str, int] = defaultdict(int)
    for chunk in in_chunks(list(holding)):
        for rid, code, kg in await s.execute(
            select(LotMovement.reservation_id, LotMovement.code, func.sum(LotMovement.amount_kg))
            .where(LotMovement.reservation_id.in_(chunk))
            .group_by(LotMovement.reservation_id, LotMovement.code)
        ):
            if rid is not None:  # in `chunk`: never None; said for the type
                delta = lot_rules.column_deltas(lot_rules.Move(code), int(kg)).get("held_kg", 0)
                moved[rid] += delta
    for rid, held in holding.items():
        if moved[rid] != held:
            res.fail(f"reservation {rid}: holds {held} kg, its lots' movements {moved[rid]} kg")


async def _holdings(s: AsyncSession, pools: list[Pool], res: CheckResult) -> None:
    rows = await s.execute(
        select(Holding.pool_id, func.sum(Holding.amount_kg)).group_by(Holding.pool_id)
    )
    sums = {pid: int(total or 0) for pid, total in rows}
    lot_rows = await s.execute(select(Holding.id, Holding.amount_kg, Holding.lots))
    for hid, amount, drawn in lot_rows:
        if lot_rules.total(drawn or []) != amount:
            res.fail(f"holding {hid}: {amount} kg, its lots {lot_rules.total(drawn or [])} kg")
    for p in pools:
        if sums.get(p.id, 0) != p.allocated_kg:
            res.fail(f"pool {p.id}: allocated {p.allocated_kg} kg, holdings {sums.get(p.id, 0)} kg")


async def _debts(s: AsyncSession, pool_ids: set[str], res: CheckResult) -> None:
    debts = [
        d
        for chunk in in_chunks(sorted(pool_ids))
        for d in (await s.scalars(select(Debt).where(Debt.pool_id.in_(chunk)))).all()
    ]
    lot_ids = list({d.lot_id for d in debts})
    lots = {
        lot.id: lot
        for chunk in in_chunks(lot_ids)
        for lot in (await s.scalars(select(Lot).where(Lot.id.in_(chunk)))).all()
    }
    # What each advance lot gave back when its hold was released unused.
    given_back: dict[int, int] = defaultdict(int)
    for chunk in in_chunks(lot_ids):
        for lot_id, kg in await s.execute(
            select(LotMovement.lot_id, func.sum(LotMovement.amount_kg))
            .where(LotMovement.lot_id.in_(chunk), LotMovement.code == Move.WITHDRAW.value)
            .group_by(LotMovement.lot_id)
        ):
            given_back[lot_id] += int(kg or 0)
    for d in debts:
        lot = lots.get(d.lot_id)
        if lot is None or lot.source != "advance":
            res.fail(f"debt {d.id}: no advance lot {d.lot_id}")
            continue
        if lot.original_kg != d.amount_kg or lot.repaid_kg != d.repaid_kg:
            res.fail(
                f"debt {d.id}: {d.amount_kg} kg, {d.repaid_kg} repaid; lot {lot.serial}: "
                f"{lot.original_kg} kg, {lot.repaid_kg} repaid"
            )
        if given_back[d.lot_id] != d.withdrawn_kg:
            res.fail(
                f"debt {d.id}: {d.withdrawn_kg} kg withdrawn; lot {lot.serial} "
                f"gave back {given_back[d.lot_id]} kg"
            )
        left = debt_rules.outstanding(d.amount_kg, d.repaid_kg, d.withdrawn_kg)
        closed_as = {
            DebtStatus.OPEN: left > 0,
            DebtStatus.REPAID: left == 0,
            DebtStatus.WITHDRAWN: left == 0 and d.withdrawn_kg > 0,
        }
        if not closed_as.get(DebtStatus(d.status), False):
            res.fail(
                f"debt {d.id}: status {d.status} with {d.repaid_kg} repaid, "
                f"{d.withdrawn_kg} withdrawn of {d.amount_kg} kg"
            )


async def _register(s: AsyncSession, res: CheckResult) -> None:
    async def entries() -> AsyncIterator[dict[str, str]]:
        last = 0
        while True:
            rows = list(
                (
                    await s.scalars(
                        select(RegisterEntry)
                        .where(RegisterEntry.seq > last)
                        .order_by(RegisterEntry.seq)
                        .limit(5000)
                    )
                ).all()
            )
            if not rows:
                return
            for e in rows:
                yield public_fields(e)
            last = rows[-1].seq

    collected = [e async for e in entries()]
    _, broken = register_rules.verify(collected)
    if broken is not None:
        res.fail(f"entry {broken.seq}: {broken.reason}")


async def ledger_checks(s: AsyncSession, pools: list[Pool]) -> dict[int, CheckResult]:
    """Checks 1–5 (all but the register's chain) over `pools`, as `s` sees
    the ledger: the import runs them inside its transaction, before it
    commits."""
    results = {n: CheckResult(n) for n in CHECKS if n != 6}
    ids = {p.id for p in pools}
    await _journal(s, pools, results[1])
    await _lots(s, pools, results[2])
    await _lineage(s, ids, results[3])
    await _holdings(s, pools, results[4])
    await _debts(s, ids, results[5])
    return results


async def run_checks(
    db: Database, districts: list[str] | None = None, *, service: str = "quota-svc"
) -> list[CheckResult]:
    """Run every numbered check (after chaining what is queued) on one
    snapshot of the ledger (`Database.snapshot`), and publish the metric of
    each (labelled with `service`)."""
    await chain_pending(db)
    # One snapshot for every statement: reads each on its own snapshot saw
    # a write committed between two of them in one and not the other, and
    # failed a sound ledger under load (a pool read before a hold, its lots
    # after it).
    async with db.snapshot() as s:
        stmt = select(Pool).order_by(Pool.id)
        if districts is not None:
            stmt = stmt.where(Pool.district.in_(districts))
        pools = list((await s.scalars(stmt)).all())
        results = await ledger_checks(s, pools)
        results[6] = CheckResult(6)
        await _register(s, results[6])
    failed = [r for r in results.values() if not r.ok]
    if districts is None or set(districts) >= set(DISTRICTS):
        # Only a run over the whole ledger sets the figures: a district's
        # passing run must not hide another district's failure.
        FAILED.publish(service, {(f"R{r.number}",): len(r.failures) for r in results.values()})
        RUNS.labels(service, "failed" if failed else "ok").inc()
    for r in failed:
        log.error(
            "reconciliation check failed",
            check=f"R{r.number}",
            code=r.code,
            failures=r.failures[:5],
        )
    return list(results.values())
