"""No overdraft under any concurrency: 200 reservations race for a pool that
fits exactly 37 of them, through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.ledger.service import reconcile
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import ADMIN, BAODI, JIZHOU, OFFICER, Quota


async def test_200_concurrent_reservations_exactly_37_fit(quota: Quota) -> None:
    # Each project of 1.5 t/a needs 3 t at ratio 2.0; 111 t fits exactly 37.
    await quota.baseline(JIZHOU, "111")

    held: list[str] = []

    async def reserve(i: int) -> int:
        r = await quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "1.5", "project_ref": f"P-{i:03d}"},
            headers=OFFICER,
        )
        if r.status_code == 409:
            assert r.json()["shortfall_t"] == "3.000"
        else:
            held.append(r.json()["id"])
        return r.status_code

    codes = Counter(await asyncio.gather(*(reserve(i) for i in range(200))))
    assert codes == {201: 37, 409: 163}
    allocated = [
        (await quota.client.post(f"/quota/reservations/{rid}/allocate", headers=OFFICER))
        for rid in held[:5]
    ]
    assert [r.status_code for r in allocated] == [200] * 5

    a = await quota.availability(JIZHOU)
    assert a["available_t"] == "0.000"
    assert a["reserved_t"] == "96.000" and a["allocated_t"] == "15.000"
    async with quota.app.state.runtime.db.session() as s:
        pool = await s.get(Pool, f"{JIZHOU}:VOCs")
        assert pool is not None
        assert pool.credited_kg - pool.reserved_kg - pool.allocated_kg == 0
        # The balance never went below zero at any entry.
        lowest = await s.scalar(
            select(
                func.min(
                    JournalEntry.credited_after_kg
                    - JournalEntry.reserved_after_kg
                    - JournalEntry.allocated_after_kg
                )
            )
        )
        assert lowest == 0
        rec = await reconcile(s, pool.id)
    assert rec.ok, rec
    assert rec.entries == 43  # the baseline, 37 holds and 5 allocations
    batches = quota.app.state.runtime.extras["pool_batches"]
    if quota.app.state.runtime.db.on_asyncpg:
        # Every reservation's transaction ran on the driver, none needed a
        # session: its refusals too (they undo their batch, then run alone).
        assert batches.on_driver and batches.operations + batches.alone >= 205
        assert batches.in_session == 0


async def test_200_concurrent_trades_and_reservations_on_one_pool(quota: Quota) -> None:
    """100 reservations (3 t each, 37 fit) and 100 trades (0.2 t each of a
    seller's 15 t, 75 fit) race on one district pool: nothing overdraws, the
    refusals name their reason, and every numbered check reconciles."""
    from .conftest import ADMIN, ADMIN2
    from .test_ledger_beyond import uscc

    seller = uscc("RACESELL")
    await quota.baseline(JIZHOU, "126")
    held = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "7.5", "project_ref": "seller", "uscc": seller},
        headers=OFFICER,
    )
    assert held.status_code == 201, held.text
    r = await quota.client.post(
        f"/quota/reservations/{held.json()['id']}/allocate", headers=OFFICER
    )
    assert r.status_code == 200 and r.json()["allocated_t"] == "15.000"

    async def answered(path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
        """As the API's clients are told to: a 503 (every connection busy
        past the service's wait, on a loaded machine) is sent again after its
        Retry-After under the same Idempotency-Key, so it is taken once."""
        key = {"Idempotency-Key": uuid.uuid4().hex}
        for _ in range(30):
            r = await quota.client.post(path, json=body, headers={**headers, **key})
            if r.status_code != 503:
                return r
            await asyncio.sleep(min(float(r.headers.get("retry-after") or 1), 1.0))
        raise AssertionError(f"{path} still 503 after 30 tries: {r.text}")

    def refused(r: httpx.Response, reason: str) -> str:
        assert r.status_code in (409, 422), r.text
        return f"refused:{r.json()[reason]}"

    async def reserve(i: int) -> str:
        body = {"district": JIZHOU, "increment_t": "1.5", "project_ref": f"P-{i:03d}"}
        r = await answered("/quota/reservations", OFFICER, body)
        return "reserved" if r.status_code == 201 else refused(r, "shortfall_t")

    async def trade(i: int) -> str:
        body = {
            "seller": seller,
            "buyer": uscc(f"RACEB{i:03d}"),
            "district": JIZHOU,
            "amount_t": "0.2",
            "price_cny_per_t": "9000",
            "contract_ref": f"RACE-{i:03d}",
        }
        r = await answered("/quota/trades", ADMIN, body)
        if r.status_code != 201:
            return refused(r, "reason")
        a = await answered(f"/quota/trades/{r.json()['id']}/approve", ADMIN2)
        return "settled" if a.status_code == 200 else refused(a, "reason")

    outcomes = Counter(
        await asyncio.gather(*(reserve(i) for i in range(100)), *(trade(i) for i in range(100)))
    )
    assert outcomes == {
        "reserved": 37,
        "refused:3.000": 63,
        "settled": 75,
        "refused:seller_holds_too_little": 25,
    }
    a = await quota.availability(JIZHOU)
    assert (a["available_t"], a["reserved_t"], a["allocated_t"]) == ("0.000", "111.000", "15.000")
    holdings = (
        await quota.client.get(f"/quota/holdings?district={JIZHOU}&limit=1000", headers=OFFICER)
    ).json()["items"]
    assert len(holdings) == 75 and all(h["amount_t"] == "0.200" for h in holdings)
    rec = (await quota.client.get("/quota/reconciliation", headers=ADMIN)).json()
    assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]


async def test_concurrent_reservations_draw_on_lots_as_they_are_after_the_wait(
    quota: Quota,
) -> None:
    """A reservation that waited for the pool's lock behind another one
    draws on the lots as that one left them: with the stock in twenty small
    lots, 100 concurrent reservations fit exactly 40, and every refusal is a
    shortfall, never a clash with a lot emptied meanwhile."""
    for _ in range(20):  # every credit is a lot: twenty lots of 1 t
        await quota.baseline(JIZHOU, "1")

    async def reserve(i: int) -> tuple[int, str]:
        r = await quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "0.25", "project_ref": f"L-{i:03d}"},
            headers=OFFICER,
        )
        return r.status_code, "" if r.status_code == 201 else r.json().get("shortfall_t", r.text)

    answers = await asyncio.gather(*(reserve(i) for i in range(100)))
    assert Counter(code for code, _ in answers) == {201: 40, 409: 60}, [
        why for code, why in answers if code != 201
    ][:3]
    assert {why for code, why in answers if code == 409} == {"0.500"}
    a = await quota.availability(JIZHOU)
    assert (a["available_t"], a["reserved_t"]) == ("0.000", "20.000")


async def test_a_hot_pool_is_applied_in_batches_each_request_answered_alone(
    quota: Quota, db_url: str
) -> None:
    """60 concurrent reservations on one pool (40 fit), a project asked twice
    in the race, then 40 concurrent allocations: on PostgreSQL they are
    applied in batches (fewer transactions than requests), yet each request
    gets its own answer, its own events with its own correlation id and its
    own audit entry, and nothing overdraws. On SQLite each runs alone."""
    from quota_svc.reservations.router import pool_batches

    await quota.baseline(JIZHOU, "120")  # 3 t per project: 40 fit

    async def reserve(i: int) -> tuple[int, str]:
        ref = f"B-{min(i, 58):03d}"  # 58 and 59 ask for the same project
        r = await quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "1.5", "project_ref": ref},
            headers={
                **OFFICER,
                "X-Correlation-Id": f"corr-{i:03d}",
                # the stored-answer lookup must not hold a connection while waiting
                "Idempotency-Key": f"key-{i:03d}",
            },
        )
        return r.status_code, r.json().get("id", "") if r.status_code < 300 else ""

    answers = await asyncio.gather(*(reserve(i) for i in range(60)))
    codes = Counter(code for code, _ in answers)
    # 59 projects race for 40 places; the repeated project is answered once
    # with 201 and once as the same request (200) or, when it lost, twice 409.
    assert codes[201] == 40, codes
    assert codes[201] + codes[200] + codes[409] == 60, codes
    held = {rid for code, rid in answers if code == 201}

    async def allocate(rid: str) -> int:
        r = await quota.client.post(
            f"/quota/reservations/{rid}/allocate",
            json={},
            headers={**OFFICER, "Idempotency-Key": f"alloc-{rid}"},
        )
        return r.status_code

    assert Counter(await asyncio.gather(*(allocate(rid) for rid in held))) == {200: 40}

    batches = pool_batches(quota.app.state.runtime)
    if db_url.startswith("postgresql"):
        assert batches.operations + batches.alone == 60 + 40
        assert batches.operations > batches.batches >= 1  # some batch held more than one
    else:
        assert batches.batches == 0  # SQLite: no batching, one transaction each

    reserved = await quota.events("quota.reserved.v1")
    assert len(reserved) == 40
    async with quota.app.state.runtime.db.session() as s:
        rows = await s.scalars(select(OutboxRow).where(OutboxRow.event_type == "quota.reserved.v1"))
        by_ref = {r.envelope["data"]["project_ref"]: r.envelope["correlationid"] for r in rows}
        audits = Counter((await s.execute(select(AuditEntry.action, AuditEntry.target_id))).all())
        pool = await s.get(Pool, f"{JIZHOU}:VOCs")
        assert pool is not None
        rec = await reconcile(s, pool.id)
    # every event carries the correlation id of the request that caused it
    for ref, corr in by_ref.items():
        n = int(ref.removeprefix("B-"))
        assert corr in {f"corr-{n:03d}", "corr-059"} if n == 58 else corr == f"corr-{n:03d}"
    assert sum(1 for (action, _t) in audits if action == "quota.reserve") == 40
    assert all(n == 1 for n in audits.values())
    assert (pool.credited_kg, pool.reserved_kg, pool.allocated_kg) == (120_000, 0, 120_000)
    assert rec.ok, rec


class _Batches:
    """Operations of quota-svc's pool batches built by hand: queued together
    before the batch's worker runs, so they go in one batch (`one_batch`)."""

    def __init__(self, quota: Quota) -> None:
        from quota_svc.policy.service import default_policy
        from quota_svc.reservations.router import advance_limits, pool_batches
        from svc_common.auth import Principal

        self.rt = quota.app.state.runtime
        self.batches = pool_batches(self.rt)
        self.officer = Principal("officer.batch", "officer", frozenset({JIZHOU}))
        self.policy = default_policy(self.rt.settings)
        self.limits = advance_limits(self.rt.settings)
        self.pool_id = f"{JIZHOU}:VOCs"

    def reserve(self, ref: str, increment_kg: int, n: int) -> Any:
        from quota_svc.reservations import service

        req = service.ReserveRequest(
            district=JIZHOU,
            pollutant="VOCs",
            increment_kg=increment_kg,
            project_ref=ref,
            idempotency_id=f"batch-test:{ref}:{n}",
        )

        async def op(s: Any) -> str:
            try:
                done = await service.reserve(s, req, self.officer, self.policy, self.limits)
            except service.ProjectAlreadyReserved:  # as the route answers it: no raise
                return "already"
            return done.reservation.id

        return op, 0, ref

    def allocate(self, rid: str, amount_kg: int, kind: int = 1) -> Any:
        from quota_svc.reservations import service
        from quota_svc.reservations.rules import repeats_allocation

        async def op(s: Any) -> str:
            found = await service.lock_for_allocation(s, rid)
            assert found is not None
            r, pool = found
            # As the route does: a repeat answers with what was done.
            if repeats_allocation(r.status, r.held_kg, r.allocated_kg, amount_kg):
                return "repeated"
            await service.allocate(s, r, amount_kg, self.officer, pool)
            return "allocated"

        return op, kind, rid

    async def hold_alone(self, ref: str, increment_kg: int) -> tuple[asyncio.Task[Any], Any]:
        """A reservation of `ref` alone, in its own transaction, that keeps
        the pool locked until the event returned is set; returns once it
        holds the pool, with its task (its `Reserved`) and that event."""
        from quota_svc.reservations import service

        req = service.ReserveRequest(
            district=JIZHOU,
            pollutant="VOCs",
            increment_kg=increment_kg,
            project_ref=ref,
            idempotency_id=f"alone:{ref}",
        )
        held, go = asyncio.Event(), asyncio.Event()

        async def hold() -> Any:
            async with self.rt.db.transaction() as s:
                done = await service.reserve(s, req, self.officer, self.policy, self.limits)
                held.set()
                await go.wait()
                return done

        holding = asyncio.create_task(hold())
        await held.wait()
        return holding, go

    async def a_lock_is_awaited(self, who: str) -> None:
        """Until a session of the database waits for a row lock (`who`: what
        should be waiting, for the failure's message)."""
        from sqlalchemy import text

        waiting = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        for _ in range(500):
            async with self.rt.db.session() as s:
                if await s.scalar(waiting):
                    return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{who} never waited for a lock")

    def counts(self) -> tuple[int, int, int, int]:
        b = self.batches
        return (b.batches, b.alone, b.fallbacks, b.run_again)

    async def one_batch(self, *ops: Any, fallback: bool = False, again: bool = False) -> list[Any]:
        before = self.counts()
        results = await asyncio.gather(
            *(self.batches.run(self.pool_id, op, kind=kind, hint=hint) for op, kind, hint in ops)
        )
        ran_again = before[3] + again
        if fallback:
            assert self.counts() == (before[0], before[1] + len(ops), before[2] + 1, ran_again), (
                "the batch was not undone and run again alone"
            )
        else:
            assert self.counts() == (before[0] + 1, before[1], before[2], ran_again), (
                "the operations did not all run in one batch"
                + (", run again once" if again else "")
            )
        return list(results)

    async def check_ledger(self) -> None:
        from quota_svc.reconciliation.service import run_checks

        failed = [r for r in await run_checks(self.rt.db) if not r.ok]
        assert not failed, failed


async def test_a_batch_reads_the_pool_and_lots_once_as_its_operations_leave_them(
    quota: Quota, db_url: str
) -> None:
    """The operations of one batch share the pool and its open lots
    (svc_common.batching's memo) instead of reading them again: each must see
    what the ones before it left, and a project refused as already reserved
    must leave nothing behind. Two batches, built by queueing every operation
    before the batch's worker runs: a batch falling back to running its
    operations alone would hide a wrong memo, so none may."""
    if not db_url.startswith("postgresql"):
        return  # SQLite: no batches (each operation runs alone)
    for amount in ("3", "3", "1"):  # lots L1, L2, L3 of 3, 3 and 1 t
        await quota.baseline(JIZHOU, amount)
    b = _Batches(quota)

    # Ratio 2.0: P1 holds 3 t (L1), its twin is refused after P1's hold was
    # taken in the same batch, P2 holds the next 3 t (L2) only if the twin
    # left the pool's balance as it found it.
    p1, twin, p2 = await b.one_batch(
        b.reserve("M-1", 1500, 1), b.reserve("M-1", 1500, 2), b.reserve("M-2", 1500, 1)
    )
    assert twin == "already" and p2 not in (p1, "already")
    # P3 empties L3 (the batch reads the open lots once), P1's allocation of
    # 1 t returns the other 2 t to L1, and P4 can hold them only from L1 as
    # that allocation left it (queued as the reservations' kind, so the
    # batch runs them in arrival order).
    p3, allocated, p4 = await b.one_batch(
        b.reserve("M-3", 500, 1), b.allocate(p1, 1000, kind=0), b.reserve("M-4", 1000, 1)
    )
    assert allocated == "allocated" and p3 != p4
    a = await quota.availability(JIZHOU)
    assert (a["available_t"], a["reserved_t"], a["allocated_t"]) == ("0.000", "6.000", "1.000")
    await b.check_ledger()
    r4 = (await quota.client.get(f"/quota/reservations/{p4}", headers=OFFICER)).json()
    assert r4["required_t"] == "2.000"


async def test_a_batch_sends_its_writes_together_at_its_end(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a batch's reservations and allocations leave their
    writes for its end (svc_common.batching.BatchWrites): one statement for
    each kind and shape, the operations' rows in the order they were applied (the
    ledger replays its journal in that order). The allocations' reservations
    are locked in one statement before the first of them; one repeated in
    the same batch reads its reservation as the batch left it, unsent."""
    if not db_url.startswith("postgresql"):
        return
    from quota_svc.reservations import service

    await quota.baseline(JIZHOU, "100")
    b = _Batches(quota)
    held = await b.one_batch(*(b.reserve(f"W-{i}", 1000, 1) for i in range(4)))
    sent = b.batches.statements_sent
    locked_alone = _count_runs(monkeypatch, service._LOCK_RESERVATION, "rid")
    results = await b.one_batch(
        b.reserve("W-4", 1000, 1),
        b.allocate(held[0], 2000),
        b.reserve("W-5", 1000, 1),
        b.allocate(held[1], 2000),
        b.allocate(held[0], 2000),
    )
    # One statement for each kind of operation, and one leasing the batch's
    # outbox rows to this process's relay.
    assert b.batches.statements_sent - sent == 3, "one statement a kind, and the lease"
    assert locked_alone == [], "the batch's reservations were locked one by one"
    assert results[1:5:2] == ["allocated", "allocated"] and results[4] == "repeated"
    a = await quota.availability(JIZHOU)
    # 6 projects of 2 t each held, two of them allocated
    assert (a["reserved_t"], a["allocated_t"], a["available_t"]) == ("8.000", "4.000", "88.000")
    await b.check_ledger()


async def test_a_batch_takes_its_allocations_reservations_before_the_pool(
    quota: Quota, db_url: str
) -> None:
    """The lock order is a reservation, then its pool: the expiry sweep
    claims due holds and then locks their pools, a release locks its
    reservation and then the pool. A batch of reservations and allocations
    locks the allocations' reservations before its reservations lock the
    pool; taken the other way round, a sweep holding one of them waits for
    the pool while the batch waits for the reservation, PostgreSQL breaks
    the deadlock by failing one, and every caller of the batch got a 503."""
    if not db_url.startswith("postgresql"):
        return
    from sqlalchemy import text

    await quota.baseline(JIZHOU, "10")
    b = _Batches(quota)
    rid = await b.batches.run(b.pool_id, b.reserve("D-1", 1000, 1)[0])
    db = b.rt.db
    async with db.transaction() as sweep:
        conn = await sweep.connection()
        claim = "SELECT id FROM reservations WHERE id = :id FOR UPDATE"
        await conn.execute(text(claim), {"id": rid})
        batch = asyncio.create_task(b.one_batch(b.reserve("D-2", 1000, 1), b.allocate(rid, 2000)))
        await b.a_lock_is_awaited("the batch")  # one the sweep holds
        pool = "SELECT id FROM pools WHERE id = :id FOR UPDATE"
        await conn.execute(text(pool), {"id": b.pool_id})
    held, allocated = await batch
    assert held not in (rid, "already") and allocated == "allocated"
    await b.check_ledger()


async def test_what_queues_while_a_batch_waits_for_its_pool_joins_it_unless_it_would_wait(
    quota: Quota, db_url: str
) -> None:
    """A batch waiting for its pool (another transaction holds it: another
    replica's batch) takes what queued meanwhile once it has the pool: a
    reservation, and an allocation whose reservation it can lock at once.
    An allocation whose reservation another transaction holds (a release, a
    sweep: they take the reservation, then the pool) is left for the next
    batch, whose prepare waits for it before the pool: waited for now, with
    the pool held, the two transactions could wait on each other. The
    reservation that joined late holds at the ratio in force when it came,
    not the one the batch read before its wait."""
    if not db_url.startswith("postgresql"):
        return
    from sqlalchemy import text

    await quota.baseline(JIZHOU, "20")
    b = _Batches(quota)
    free, held = await b.one_batch(b.reserve("J-1", 1000, 1), b.reserve("J-2", 1000, 1))
    db = b.rt.db

    def run(op: Any) -> asyncio.Task[Any]:
        fn, kind, hint = op
        return asyncio.create_task(b.batches.run(b.pool_id, fn, kind=kind, hint=hint))

    joined, before = b.batches.joined_late, b.batches.batches
    async with db.transaction() as other, db.transaction() as release:
        lock = "SELECT id FROM {} WHERE id = :id FOR UPDATE"
        await (await release.connection()).execute(text(lock.format("reservations")), {"id": held})
        await (await other.connection()).execute(text(lock.format("pools")), {"id": b.pool_id})
        first = [run(b.reserve("J-3", 1000, 1)), run(b.reserve("J-4", 1000, 1))]
        await b.a_lock_is_awaited("the batch")  # for the pool
        ratio = await quota.client.put(
            f"/quota/settings/{JIZHOU}/VOCs",
            json={"offset_ratio": "1.5", "hold_days": 90},
            headers=ADMIN,
        )
        assert ratio.status_code == 200, ratio.text
        late = [run(b.allocate(free, 2000)), run(b.allocate(held, 2000))]
        late.append(run(b.reserve("J-5", 1000, 1)))
        await asyncio.sleep(0.05)  # each queued behind the waiting batch
        await other.commit()
        # The batch, joined by the first allocation and the reservation, is
        # done while the other allocation's reservation is still held.
        await asyncio.wait_for(asyncio.gather(*first, late[0], late[2]), 15)
        assert b.batches.joined_late - joined == 2
        assert b.batches.batches == before + 1
        assert not late[1].done()
    assert await asyncio.wait_for(late[1], 15) == "allocated"
    assert late[0].result() == "allocated" and late[2].result() not in (free, held, "already")
    required = {}
    for rid in [t.result() for t in first] + [late[2].result()]:
        got = await quota.client.get(f"/quota/reservations/{rid}", headers=OFFICER)
        required[got.json()["project_ref"]] = got.json()["required_t"]
    # J-3 read the ratio before its wait; what ran after the late ones
    # joined, the batch's own J-4 too, reads it again.
    assert required == {"J-3": "2.000", "J-4": "1.500", "J-5": "1.500"}
    a = await quota.availability(JIZHOU)
    # 3 projects of 2 t and two of 1.5 t held, two of them allocated
    assert (a["reserved_t"], a["allocated_t"], a["available_t"]) == ("5.000", "4.000", "11.000")
    await b.check_ledger()


async def test_an_allocation_alone_locks_its_reservation_then_its_pool_in_one_statement(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An allocation alone (no batch) locks its reservation and its pool in
    one round trip, in the order every transaction takes them: waiting for
    its reservation it holds no pool (a release or a sweep holding the
    reservation may wait for the pool), and waiting for the pool it already
    holds its reservation, and reads the pool as the holder left it (a
    balance read before the wait would be written back over the holder's).
    Its answer is as ever."""
    if not db_url.startswith("postgresql"):
        return
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    await quota.baseline(JIZHOU, "10")
    b = _Batches(quota)
    first = await b.batches.run(b.pool_id, b.reserve("L-1", 1000, 1)[0])
    second = await b.batches.run(b.pool_id, b.reserve("L-2", 1000, 1)[0])
    third = await b.batches.run(b.pool_id, b.reserve("L-3", 1000, 1)[0])
    db = b.rt.db

    async def free_now(table: str, row_id: str) -> bool:
        """Whether another transaction can lock the row without waiting."""
        try:
            async with db.transaction() as probe:
                await (await probe.connection()).execute(
                    text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE NOWAIT"), {"id": row_id}
                )
        except DBAPIError:
            return False
        return True

    from quota_svc.ledger import service as ledger
    from quota_svc.reservations import service

    apart: list[str] = []
    for name, statement in (
        ("reservation", service._LOCK_RESERVATION),
        ("pool", ledger._LOCK_ONE_POOL),
    ):

        async def counted(conn: Any, params: Any, name: str = name, one: Any = statement) -> Any:
            apart.append(name)
            return await type(one).fetch_in(one, conn, params)

        monkeypatch.setattr(statement, "fetch_in", counted)
    lock = "SELECT id FROM {} WHERE id = :id FOR UPDATE"
    credit = "UPDATE pools SET credited_kg = credited_kg + :kg WHERE id = :id"
    for held, waits_with, other in (
        ("reservations", first, ("pools", b.pool_id, True)),
        ("pools", b.pool_id, ("reservations", second, False)),
    ):
        rid = first if held == "reservations" else second
        async with db.transaction() as holder:
            await (await holder.connection()).execute(text(lock.format(held)), {"id": waits_with})
            if held == "pools":  # changed while the allocation waits; both undone below
                await (await holder.connection()).execute(text(credit), {"id": b.pool_id, "kg": 7})
            allocation = asyncio.create_task(
                b.batches.run(b.pool_id, b.allocate(rid, 2000)[0], kind=1, hint=rid)
            )
            await b.a_lock_is_awaited("the allocation")
            table, row_id, free = other
            assert await free_now(table, row_id) is free, (held, table)
            if held == "reservations":
                # As a release or the sweep: the reservation, then its pool,
                # changed while the allocation waits (after its statement began).
                await (await holder.connection()).execute(text(credit), {"id": b.pool_id, "kg": 7})
        assert await asyncio.wait_for(allocation, 15) == "allocated"
    # And through the route.
    r = await quota.client.post(f"/quota/reservations/{third}/allocate", json={}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["status"] == "allocated", r.text
    assert apart == [], "locked in a statement each"
    async with db.transaction() as undo:
        await (await undo.connection()).execute(text(lock.format("pools")), {"id": b.pool_id})
        kept = await (await undo.connection()).scalar(
            text("SELECT credited_kg FROM pools WHERE id = :id"), {"id": b.pool_id}
        )
        await (await undo.connection()).execute(text(credit), {"id": b.pool_id, "kg": -14})
    assert kept == 10_014, "the allocation wrote back a balance read before its wait"
    a = await quota.availability(JIZHOU)
    # The journal's balances after the allocations count the 14 kg credited
    # outside them, so the ledger is not reconciled here.
    assert (a["reserved_t"], a["allocated_t"], a["available_t"]) == ("0.000", "6.000", "4.000")


async def test_a_batch_in_a_session_reads_an_allocation_it_made_as_made(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool batch in a session (PostgreSQL on a driver other than
    asyncpg) writes each operation's rows at once, but its allocations still
    find their reservations in the batch's memo, locked together before the
    first: an allocation asked twice in one batch must find the first one's
    result there, not the reservation as it was locked (held), or it posts
    the allocation twice and only a unique index stops it."""
    if not db_url.startswith("postgresql"):
        return
    await quota.baseline(JIZHOU, "10")
    b = _Batches(quota)
    rid = await b.batches.run(b.pool_id, b.reserve("S-1", 1000, 1)[0])
    monkeypatch.setattr(b.batches, "on_driver", False)
    assert await b.one_batch(b.allocate(rid, 2000), b.allocate(rid, 2000)) == [
        "allocated",
        "repeated",
    ]
    await b.check_ledger()


async def test_a_batch_with_a_hold_on_several_lots_runs_again_alone_in_a_session(
    quota: Quota, db_url: str
) -> None:
    """A hold drawn on several lots (and its allocation) writes the lots one
    statement per table, which a batch on the driver does not take
    (NeedsSession): the batch is undone, each operation runs again alone,
    that one in a session, and the ledger is as if none had been batched."""
    if not db_url.startswith("postgresql"):
        return
    for amount in ("1", "1", "5"):  # lots of 1, 1 and 5 t
        await quota.baseline(JIZHOU, amount)
    b = _Batches(quota)
    before = b.batches.in_session
    # 1.5 t at ratio 2.0 holds 3 t: the first two lots and 1 t of the third.
    several, one = await b.one_batch(
        b.reserve("ML-1", 1500, 1), b.reserve("ML-2", 500, 1), fallback=True
    )
    assert "already" not in (several, one) and b.batches.in_session - before == 1
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("4.000", "3.000")
    # 1 t of the 3 t allocated, the other 2 t back to their lots.
    assert await b.one_batch(b.allocate(several, 1000), b.allocate(one, 1000), fallback=True) == [
        "allocated",
        "allocated",
    ]
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["allocated_t"], a["available_t"]) == ("0.000", "2.000", "5.000")
    await b.check_ledger()


async def test_a_batch_whose_writes_fail_on_the_way_keeps_nothing(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails while a batch's writes are sent at its end: every
    caller gets the failure (a 503 to retry), none of the batch is kept,
    and the same operations go through once the database answers again."""
    if not db_url.startswith("postgresql"):
        return
    from svc_common.batching import BatchWrites

    await quota.baseline(JIZHOU, "10")
    b = _Batches(quota)
    send = BatchWrites.send

    async def lost(self: BatchWrites, driver: Any) -> None:
        await send(self, driver)
        raise ConnectionResetError("connection lost")

    monkeypatch.setattr(BatchWrites, "send", lost)
    ops = (b.reserve("X-1", 1000, 1), b.reserve("X-2", 1000, 1))
    failed = await asyncio.gather(
        *(b.batches.run(b.pool_id, op, kind=kind, hint=hint) for op, kind, hint in ops),
        return_exceptions=True,
    )
    assert all(isinstance(e, ConnectionResetError) for e in failed), failed
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("0.000", "10.000")
    monkeypatch.undo()
    held = await b.one_batch(*ops)
    assert "already" not in held
    await b.check_ledger()


async def test_a_twin_of_a_committed_hold_undoes_the_batch_that_runs_again_with_it_found(
    quota: Quota, db_url: str
) -> None:
    """A batch's reservation rows are sent at its end, so a project already
    held by an earlier transaction (a retry whose answer was lost) is found
    there, by the unique index: the batch is undone and runs again as one,
    its projects' live holds read first. The twin answers from the hold
    found, nothing of it kept; the other keeps its batch."""
    if not db_url.startswith("postgresql"):
        return
    await quota.baseline(JIZHOU, "10")
    b = _Batches(quota)
    (first,) = [await b.batches.run(b.pool_id, b.reserve("T-1", 1000, 1)[0])]
    twin, other = await b.one_batch(
        b.reserve("T-1", 1000, 2), b.reserve("T-2", 1000, 1), again=True
    )
    assert twin == "already" and other not in (first, "already")
    # The same request again (an EIA filing's, whose id is its own): its hold.
    same, third = await b.one_batch(
        b.reserve("T-1", 1000, 1), b.reserve("T-3", 1000, 1), again=True
    )
    assert same == first and third not in (first, other, "already")
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("6.000", "4.000")
    await b.check_ledger()


async def test_the_pools_of_reservations_asked_at_once_are_each_their_own(
    quota: Quota, db_url: str
) -> None:
    """An allocation first learns its reservation's pool (the key of its
    batch); on PostgreSQL the lookups of the moment go in one statement.
    Asked at once for reservations of two pools and one that does not
    exist, each caller gets its own answer."""
    from quota_svc.reservations import service

    await quota.baseline(JIZHOU, "100")
    await quota.baseline(BAODI, "100")
    officer = testing.auth("officer", [JIZHOU, BAODI], sub="officer.two")
    ids = {}
    for i, district in enumerate([JIZHOU, BAODI, JIZHOU, BAODI]):
        r = await quota.client.post(
            "/quota/reservations",
            json={"district": district, "increment_t": "1", "project_ref": f"P-{i}"},
            headers=officer,
        )
        assert r.status_code == 201, r.text
        ids[r.json()["id"]] = f"{district}:VOCs"
    asked = [*ids, "no-such-reservation", *reversed(ids)]
    db = quota.app.state.runtime.db
    pools = await asyncio.gather(*(service.pool_of_reservation(db, rid) for rid in asked))
    assert pools == [ids.get(rid) for rid in asked]


async def test_an_advance_for_a_project_held_at_once_on_another_pool_keeps_nothing(
    quota: Quota, db_url: str
) -> None:
    """先用后补 on one pool while the same project is being held on another
    (refs are unique citywide): the advance's hold waits on the unique index,
    finds the other hold once it commits, and the advance is undone with it —
    no advance lot, no debt, the pool as it was."""
    if not db_url.startswith("postgresql"):
        return
    await quota.baseline(BAODI, "10")
    await quota.baseline(JIZHOU, "1")
    r = await quota.client.put(
        f"/quota/advance-limits/{JIZHOU}/VOCs",
        json={"limit_t": "5", "term_days": 30},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    from quota_svc.reservations import service
    from svc_common.auth import Principal

    b = _Batches(quota)
    other = service.ReserveRequest(
        district=BAODI,
        pollutant="VOCs",
        increment_kg=1000,
        project_ref="X-1",
        idempotency_id="race:baodi",
    )
    officer = Principal("officer.baodi", "officer", frozenset({BAODI}))
    held, go = asyncio.Event(), asyncio.Event()

    async def hold_on_baodi() -> None:
        async with b.rt.db.transaction() as s:
            await service.reserve(s, other, officer, b.policy, b.limits)
            held.set()
            await go.wait()

    holding = asyncio.create_task(hold_on_baodi())
    await held.wait()
    advance = asyncio.create_task(
        quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "1.5", "project_ref": "X-1", "advance": True},
            headers=ADMIN,
        )
    )
    await b.a_lock_is_awaited("the advance's hold")
    go.set()
    await holding
    r = await advance
    assert r.status_code == 409, r.text
    a = await quota.availability(JIZHOU)
    assert (a["credited_t"], a["reserved_t"], a["debt_t"]) == ("1.000", "0.000", "0.000"), a
    debts = await quota.client.get(f"/quota/debts?district={JIZHOU}", headers=ADMIN)
    assert debts.json()["items"] == [], debts.text
    await b.check_ledger()


@pytest.mark.pg
async def test_a_pool_locked_too_long_answers_503_and_keeps_nothing(pg_url: str) -> None:
    """A session holding the pool's row (a psql session left open, a stuck
    job) does not keep reservations waiting for good: past the lock timeout
    each is answered 503 with Retry-After, nothing of it written; once the
    pool is free the same request, under the same key, is held."""
    import asyncpg
    from quota_svc.app import create
    from quota_svc.settings import Settings

    settings = Settings(
        database_url=pg_url, log_json=False, hold_sweep_seconds=3600, db_lock_timeout_seconds=0.3
    )
    app = create(settings)
    async with testing.running(app) as client:
        quota = Quota(app, client)
        await quota.baseline(JIZHOU, "100")
        other = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            holding = other.transaction()
            await holding.start()
            await other.execute(f"SELECT * FROM pools WHERE id = '{JIZHOU}:VOCs' FOR UPDATE")

            async def reserve(i: int) -> Any:
                return await client.post(
                    "/quota/reservations",
                    json={"district": JIZHOU, "increment_t": "1", "project_ref": f"P-{i}"},
                    headers={**OFFICER, "Idempotency-Key": f"locked-{i}"},
                )

            async with asyncio.timeout(30):
                refused = await asyncio.gather(*(reserve(i) for i in range(3)))
            for r in refused:
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"]
                assert r.headers["content-type"].startswith("application/problem+json")
            await holding.rollback()
            assert await other.fetchval("SELECT count(*) FROM reservations") == 0
            assert await other.fetchval("SELECT count(*) FROM idempotency_keys") == 0
            held = await reserve(0)
            assert held.status_code == 201, held.text
            assert "Idempotent-Replayed" not in held.headers
        finally:
            await other.close()
        a = await quota.availability(JIZHOU)
        assert a["reserved_t"] == "2.000"  # P-0 alone, at ratio 2.0


async def test_a_reservation_that_waited_for_the_pool_draws_on_the_lots_as_left(
    quota: Quota, db_url: str
) -> None:
    """A reservation that waits for its pool's lock draws on the lots as the
    lock's holder committed them, not as they were when it began waiting
    (the lots are read by a statement of their own, begun once the lock is
    held): the holder empties the oldest lot, the waiter's hold comes from
    the next one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: one writer at a time, nothing waits on a row lock")
    for amount in ("4", "4"):  # lots L1 and L2 of 4 t each
        await quota.baseline(JIZHOU, amount)
    b = _Batches(quota)
    holding, go = await b.hold_alone("W-1", 2000)  # 4 t at ratio 2.0: all of L1
    waiting = asyncio.create_task(
        quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "1", "project_ref": "W-2"},
            headers=OFFICER,
        )
    )
    await b.a_lock_is_awaited("the second reservation")
    go.set()
    l1 = (await holding).reservation.lots[0][0]
    r = await waiting
    assert r.status_code == 201, r.text
    (lot, kg), *more = r.json()["lots"]
    assert not more and lot != l1 and kg == 2000, r.json()["lots"]
    await b.check_ledger()


def _count_runs(monkeypatch: pytest.MonkeyPatch, statement: Any, param: str) -> list[Any]:
    """The `param` of each run of a DriverStatement from now on."""
    runs: list[Any] = []

    async def counted(conn: Any, params: dict[str, Any]) -> Any:
        runs.append(params[param])
        return await type(statement).fetch_in(statement, conn, params)

    monkeypatch.setattr(statement, "fetch_in", counted)
    return runs


def _count_lot_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pools whose open lots are read from the database from now on."""
    from quota_svc.lots import service as lots

    return _count_runs(monkeypatch, lots._OPEN_LOTS, "pool_id")


async def test_a_batch_after_this_process_last_one_takes_its_lots_as_left(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's next batch in this process, finding the pool's row as the
    last batch committed it (no transaction wrote it since), takes the open
    lots that batch left instead of reading them again under the lock, and
    draws on them as they are: the first batch empties L1, the next draws
    from L2 without a read, and an allocation-only batch between them
    (returning a remainder to L1) is carried over too."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: no batches")
    for amount in ("4", "4", "4"):  # lots L1, L2, L3 of 4 t each
        await quota.baseline(JIZHOU, amount)
    b = _Batches(quota)
    reads = _count_lot_reads(monkeypatch)
    # Ratio 2.0: each holds 2 t; the first two empty L1.
    first = await b.one_batch(b.reserve("K-1", 1000, 1), b.reserve("K-2", 1000, 1))
    assert reads == [b.pool_id]
    second = await b.one_batch(b.reserve("K-3", 1000, 1), b.reserve("K-4", 1000, 1))
    assert reads == [b.pool_id], "the second batch read the lots again"
    # Allocate 1 t of K-1's 2 t: 1 t returns to L1.
    assert await b.one_batch(b.allocate(first[0], 1000), b.allocate(first[1], 2000)) == [
        "allocated",
        "allocated",
    ]
    third = await b.one_batch(b.reserve("K-5", 500, 1), b.reserve("K-6", 1000, 1))
    assert reads == [b.pool_id], "a batch after the allocations read the lots again"
    lots_of = {}
    for rid in [*first, *second, *third]:
        got = (await quota.client.get(f"/quota/reservations/{rid}", headers=OFFICER)).json()
        lots_of[got["project_ref"]] = [tuple(drawn) for drawn in got["lots"]]
    l1, l2, l3 = sorted({lot for drawn in lots_of.values() for lot, _kg in drawn})
    # K-1 and K-2 emptied L1, K-3 and K-4 L2; K-5's 1 t came from L1 (K-1's
    # remainder, returned by the allocation-only batch), K-6's 2 t from L3.
    assert lots_of == {
        "K-1": [(l1, 2000)],
        "K-2": [(l1, 2000)],
        "K-3": [(l2, 2000)],
        "K-4": [(l2, 2000)],
        "K-5": [(l1, 1000)],
        "K-6": [(l3, 2000)],
    }
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["allocated_t"], a["available_t"]) == ("7.000", "3.000", "2.000")
    await b.check_ledger()


async def test_a_pool_written_since_the_last_batch_has_its_lots_read_again(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction (another replica's, an operation alone) writes
    the pool between two batches of this process, while the second waits
    for the pool's lock: that batch reads the lots again, once it holds the
    lock, and draws on them as the other transaction left them (what the
    last batch remembered would draw on a lot emptied meanwhile)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: no batches")
    for amount in ("4", "4", "4"):  # lots L1, L2, L3 of 4 t each
        await quota.baseline(JIZHOU, amount)
    b = _Batches(quota)
    reads = _count_lot_reads(monkeypatch)
    first = await b.one_batch(b.reserve("Q-1", 500, 1), b.reserve("Q-2", 500, 1))
    assert len(reads) == 1  # 2 t of L1 held, 2 t left there
    # 4 t at ratio 2.0: L1's last 2 t and 2 t of L2.
    holding, go = await b.hold_alone("Q-OTHER", 2000)
    assert len(reads) == 2  # the other's own (no batch, no memo)
    batch = asyncio.create_task(b.one_batch(b.reserve("Q-3", 1000, 1), b.reserve("Q-4", 500, 1)))
    await b.a_lock_is_awaited("the batch")
    go.set()
    alone = await holding
    second = await batch
    assert len(reads) == 3, "the batch took the lots of its last batch, written since"
    l1, l2 = (lot for lot, _kg in alone.reservation.lots)
    got3 = (await quota.client.get(f"/quota/reservations/{second[0]}", headers=OFFICER)).json()
    got4 = (await quota.client.get(f"/quota/reservations/{second[1]}", headers=OFFICER)).json()
    # L2 had 2 t left: Q-3's 2 t; Q-4's 1 t from L3.
    assert got3["lots"] == [[l2, 2000]] and got4["lots"][0][0] not in (l1, l2), (got3, got4)
    assert first[0] != first[1]
    await b.check_ledger()
