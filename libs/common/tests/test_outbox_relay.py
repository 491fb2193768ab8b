"""The outbox relay with a recording transport: order per key, several
relays on one PostgreSQL database, failures counted and retried."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from svc_common import outbox, testing
from svc_common.db import OUTBOX_DIRECT, CommonBase, Database
from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import EventPayload, event
from svc_common.outbox import (
    _CLAIM_ON_DRIVER,
    HELD_BACK_RETRY_SECONDS,
    OutboxRelay,
    emit,
    held_back_retry,
)
from svc_common.tables import OutboxRow
from svc_common.transports.base import ProcessFn, Transport
from svc_common.types import utcnow
from svc_common.writes import Writes


@event("test.counter_ticked.v1", topic="counters.events", key="counter")
class CounterTicked(EventPayload):
    """A counter ticked (test event)."""

    counter: str
    n: int


class Recorder(Transport):
    """Records what is published; can fail some messages, and is slow enough
    that concurrent relays overlap."""

    def __init__(self, fail: set[int] | None = None, delay: float = 0.0) -> None:
        self.published: list[Message] = []
        self.fail = fail or set()
        self.delay = delay
        self.in_flight: dict[str, int] = defaultdict(int)
        self.overlaps = 0

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ready(self) -> bool:
        return True

    def subscribe(self, group: str, topics: list[str], process: ProcessFn) -> None: ...

    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        keys = {m.key or "" for m in messages}
        for k in keys:
            if self.in_flight[k]:
                self.overlaps += 1
            self.in_flight[k] += 1
        try:
            await asyncio.sleep(self.delay * random.random())
            out: list[BaseException | None] = []
            for m in messages:
                n = Envelope.from_message(m).data["n"]
                if n in self.fail:
                    self.fail.discard(n)
                    out.append(RuntimeError(f"broker said no to {n}"))
                else:
                    self.published.append(m)
                    out.append(None)
            return out
        finally:
            for k in keys:
                self.in_flight[k] -= 1


async def _db(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(CommonBase.metadata.create_all)
    return db


def _sequence_per_key(published: list[Message]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    for m in published:
        seen[m.key or ""].append(Envelope.from_message(m).data["n"])
    return seen


async def test_relay_publishes_in_order_per_key_and_marks_sent(db_url: str) -> None:
    db = await _db(db_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=7)
    async with db.transaction() as s:
        for n in range(50):
            emit(s, CounterTicked(counter=f"c{n % 3}", n=n))
    assert await relay.drain() == 50
    for key, ns in _sequence_per_key(rec.published).items():
        assert ns == sorted(ns), key
    async with db.session() as s:
        rows = (await s.execute(select(OutboxRow))).scalars().all()
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    assert await relay.drain() == 0  # nothing is published twice
    await db.dispose()


@event("test.batch_listed.v1", topic="counters.events", key="counter")
class BatchListed(EventPayload):
    """Many rows in one event, with values JSON spells its own way (test event)."""

    counter: str
    n: int
    at: dt.datetime
    rows: list[list[str | int | float | None]]


async def test_a_stored_envelope_is_the_whole_envelope_as_json(db_url: str) -> None:
    # The outbox keeps the data as build_envelope dumped it (not dumped
    # again): what is stored and what is published are the full JSON dump.
    db = await _db(db_url)
    rec = Recorder()
    rows: list[list[str | int | float | None]] = [
        ["中文", 2**70, 1e-05, None, "\u2028"],
        ["x", -1, 0.5, None, ""],
    ]
    payload = BatchListed(
        counter="c", n=1, at=dt.datetime(2026, 12, 3, 8, tzinfo=dt.UTC), rows=rows
    )
    async with db.transaction() as s:
        env = emit(s, payload)
    async with db.session() as s:
        stored = (await s.execute(select(OutboxRow.envelope))).scalar_one()
    assert stored == env.model_dump(mode="json")
    original = OutboxRelay(db, rec, service="t")
    assert await original.drain() == 1
    got = Envelope.from_message(rec.published[0])
    assert got.data == {"counter": "c", "n": 1, "at": "2026-12-03T08:00:00Z", "rows": rows}
    await db.dispose()


async def test_failed_publish_is_counted_kept_and_holds_back_its_key(db_url: str) -> None:
    db = await _db(db_url)
    rec = Recorder(fail={1})
    relay = OutboxRelay(db, rec, service="t", batch_size=10)
    async with db.transaction() as s:
        for n in range(4):
            emit(s, CounterTicked(counter="same", n=n))
    await relay.drain()
    async with db.session() as s:
        failed = await s.scalar(
            select(OutboxRow).where(
                OutboxRow.event_type.like("%ticked%"), OutboxRow.sent_at.is_(None)
            )
        )
    assert failed is not None and failed.attempts == 1
    assert "broker said no to 1" in (failed.last_error or "")
    # Retry after the back-off: the rest follow, in order.
    async with db.transaction() as s:
        failed_row = await s.get(OutboxRow, failed.seq)
        assert failed_row is not None
        failed_row.next_attempt_at = None
    await relay.drain()
    ns = _sequence_per_key(rec.published)["same"]
    # 0 went first; 1 failed; 2 and 3 were in the same batch. What matters is
    # that nothing is lost and, once retried, all are sent.
    assert sorted(set(ns)) == [0, 1, 2, 3]
    async with db.session() as s:
        unsent = (await s.execute(select(OutboxRow).where(OutboxRow.sent_at.is_(None)))).all()
    assert unsent == []
    await db.dispose()


@pytest.mark.pg
async def test_several_relays_on_postgres_never_reorder_or_overlap_a_key(tmp_path: Path) -> None:
    async with testing.database_url("pg", tmp_path) as url:
        db = await _db(url)
        rec = Recorder(delay=0.01)
        relays = [OutboxRelay(db, rec, service=f"r{i}", batch_size=25) for i in range(4)]
        async with db.transaction() as s:
            for n in range(600):
                emit(s, CounterTicked(counter=f"c{n % 8}", n=n))
        await asyncio.gather(*(r.drain() for r in relays), *(r.drain() for r in relays))
        for r in relays:  # whatever a skipped-locked pass left behind
            await r.drain()
        seqs = _sequence_per_key(rec.published)
        assert sum(len(v) for v in seqs.values()) == 600  # each exactly once
        for key, ns in seqs.items():
            assert ns == sorted(ns), f"{key} published out of order"
        assert rec.overlaps == 0, "two relays published one key at the same time"
        await db.dispose()


async def test_emit_many_writes_rows_in_order_that_relay_as_emitted(db_url: str) -> None:
    from svc_common.outbox import emit_many

    db = await _db(db_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=1000)
    async with db.transaction() as s:
        assert (
            await emit_many(s, [CounterTicked(counter=f"c{n % 4}", n=n) for n in range(300)]) == 300
        )
    async with db.session() as s:
        rows = (await s.execute(select(OutboxRow).order_by(OutboxRow.seq))).scalars().all()
    assert [r.envelope["data"]["n"] for r in rows] == list(range(300))
    assert all(r.created_at.tzinfo is not None and r.attempts == 0 for r in rows)
    assert await relay.drain() == 300
    for key, ns in _sequence_per_key(rec.published).items():
        assert ns == sorted(ns), key
    await db.dispose()


@pytest.mark.pg
async def test_a_claim_holds_back_a_key_behind_a_row_outside_it(pg_url: str) -> None:
    """PostgreSQL's claim in one statement: a key whose earlier unsent row is
    outside the claim — waiting for a retry, or locked by another relay —
    waits entirely; the other keys go, in order."""
    db = await _db(pg_url)
    relay = OutboxRelay(db, Recorder(), service="t", batch_size=100)
    ticks = [("a", 0), ("b", 1), ("a", 2), ("c", 3), ("b", 4), ("a", 5), ("c", 6), ("d", 7)]
    async with db.transaction() as s:
        for counter, n in ticks:
            emit(s, CounterTicked(counter=counter, n=n))
    async with db.session() as s:
        seq = {
            n: row.seq
            for n, row in zip(
                (n for _, n in ticks),
                (await s.execute(select(OutboxRow).order_by(OutboxRow.seq))).scalars(),
                strict=True,
            )
        }
    async with db.transaction() as s:  # a's first row waits for its retry
        row = await s.get(OutboxRow, seq[0])
        assert row is not None
        row.next_attempt_at = utcnow() + dt.timedelta(minutes=5)
    async with db.driver() as other, other.transaction():
        # Another relay holds c's first row.
        await other.execute("SELECT 1 FROM outbox WHERE seq = $1 FOR UPDATE", seq[3])
        async with db.driver() as conn, conn.transaction():
            claimed, ready, held = await relay._claim_in_key_order(conn)
    assert [c.seq for c in claimed] == [seq[n] for n in (1, 2, 4, 5, 6, 7)]
    assert [r.seq for r in ready] == [seq[1], seq[4], seq[7]]
    assert held == {"a", "c"}
    await db.dispose()


async def test_an_unreadable_row_fails_alone_and_holds_back_only_its_key(db_url: str) -> None:
    """A row whose envelope is not an event envelope (written by hand, or by
    a bug) is kept and retried with its error; its key's later rows wait
    behind it; every other key is still published, pass after pass."""
    db = await _db(db_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=10)
    async with db.transaction() as s:
        emit(s, CounterTicked(counter="a", n=0))
        s.add(
            OutboxRow(
                event_id="hand-written",
                topic="counters.events",
                key="a",
                event_type="test.counter_ticked.v1",
                envelope={"id": "x", "data": {}},
                created_at=utcnow(),
            )
        )
        emit(s, CounterTicked(counter="a", n=1))
        emit(s, CounterTicked(counter="b", n=2))
    await relay.drain()
    async with db.transaction() as s:
        emit(s, CounterTicked(counter="b", n=3))
    await relay.drain()
    assert _sequence_per_key(rec.published) == {"a": [0], "b": [2, 3]}
    async with db.session() as s:
        unsent = (
            (await s.execute(select(OutboxRow).where(OutboxRow.sent_at.is_(None)))).scalars().all()
        )
    by_id = {r.event_id: r for r in unsent}
    assert len(unsent) == 2 and "hand-written" in by_id
    poison = by_id.pop("hand-written")
    assert poison.attempts == 1 and "unreadable envelope" in (poison.last_error or "")
    (behind,) = by_id.values()
    assert behind.attempts == 1 and "held back" in (behind.last_error or "")
    assert not relay._backing_off  # the transport is fine: nothing to cut short
    await db.dispose()


async def test_a_row_that_is_not_json_fails_alone(tmp_path: Path) -> None:
    """SQLite (the embedded default) stores an envelope as text, so a row
    edited by hand may not even be JSON. It fails alone as well: it does
    not stop every pass."""
    db = await _db(f"sqlite+aiosqlite:///{tmp_path}/relay.db")
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=10)
    async with db.transaction() as s:
        emit(s, CounterTicked(counter="a", n=0))
        emit(s, CounterTicked(counter="b", n=1))
        emit(s, CounterTicked(counter="a", n=2))
    async with db.transaction() as s:
        first_a = await s.scalar(select(func.min(OutboxRow.seq)).where(OutboxRow.key == "a"))
        await s.execute(
            text("UPDATE outbox SET envelope = '{not json' WHERE seq = :seq"), {"seq": first_a}
        )
    await relay.drain()
    async with db.transaction() as s:
        emit(s, CounterTicked(counter="b", n=3))
    await relay.drain()
    assert _sequence_per_key(rec.published) == {"b": [1, 3]}
    async with db.session() as s:
        errors = dict(
            (
                await s.execute(
                    select(OutboxRow.seq, OutboxRow.last_error).where(OutboxRow.sent_at.is_(None))
                )
            ).all()
        )
    assert "unreadable envelope" in (errors.pop(first_a) or "")
    assert ["held back" in (e or "") for e in errors.values()] == [True]
    await db.dispose()


@pytest.mark.pg
async def test_a_key_waiting_on_a_retry_never_fills_the_claim(pg_url: str) -> None:
    """PostgreSQL: more rows wait behind a row in back-off than one claim
    takes. They are not claimed (they could only be held back), so the
    other keys are still published."""
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=3)
    async with db.transaction() as s:
        for n in range(6):
            emit(s, CounterTicked(counter="busy", n=n))
        for n in range(6, 8):
            emit(s, CounterTicked(counter="quiet", n=n))
    async with db.transaction() as s:  # the busy key's first row was refused
        first = await s.scalar(select(OutboxRow).order_by(OutboxRow.seq).limit(1))
        assert first is not None
        first.attempts, first.next_attempt_at = 1, utcnow() + dt.timedelta(minutes=5)
    await relay.drain()
    assert _sequence_per_key(rec.published) == {"quiet": [6, 7]}
    async with db.transaction() as s:  # its retry is due: the key follows, in order
        row = await s.get(OutboxRow, first.seq)
        assert row is not None
        row.next_attempt_at = None
    await relay.drain()
    assert _sequence_per_key(rec.published) == {"quiet": [6, 7], "busy": [0, 1, 2, 3, 4, 5]}
    await db.dispose()


#: Rows written straight into the outbox: `sent` rows published long ago
#: or `unsent` ones waiting, on `keys` keys in turn.
_RAW_ROWS = """
    INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, sent_at, attempts)
    SELECT md5(random()::text || g), 'counters.events', 'k' || (g % $2),
           'test.counter_ticked.v1', '{}'::jsonb, now(), CASE WHEN $3 THEN now() END, 0
    FROM generate_series(1, $1) g
"""


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


async def _claim_plan(db: Database, conn: Any, limit: int) -> list[dict[str, Any]]:
    """The claim's plan as run (EXPLAIN ANALYZE, rolled back): every node."""
    sql, args = _CLAIM_ON_DRIVER.bound(
        db.engine.dialect, {"now": utcnow(), "limit": limit, "skip": []}
    )
    async with conn.transaction():
        plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
    if isinstance(plan, str):  # no JSON codec on this connection
        plan = json.loads(plan)
    return list(_plan_nodes(plan[0]["Plan"]))


def _read_per_claimed_row(nodes: list[dict[str, Any]], limit: int) -> list[str]:
    """Nodes of the plan whose work grows past the claim's size: a sort of
    more rows than the claim takes, or a part run more often than once per
    claimed row."""
    return [
        n["Node Type"]
        for n in nodes
        if n["Actual Loops"] > limit
        or (n["Node Type"] == "Sort" and n["Plans"][0]["Actual Rows"] > limit)
    ]


@pytest.mark.pg
async def test_a_claim_walks_each_key_once_when_statistics_say_nothing_is_unsent(
    pg_url: str,
) -> None:
    """The outbox's usual statistics: autovacuum analysed it while every row
    had been sent. A backlog since then (the broker was down) is claimed a
    batch at a time, and each key's earlier rows are looked for once per
    claim, not once per claimed row (it was 200 × the keys: 0.5 s a claim)."""
    db = await _db(pg_url)
    async with db.driver() as conn:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        await conn.execute(_RAW_ROWS, 3000, 500, True)
        await conn.execute("ANALYZE outbox")
        await conn.execute(_RAW_ROWS, 600, 60, False)
        nodes = await _claim_plan(db, conn, limit=100)
    assert _read_per_claimed_row(nodes, 100) == []
    await db.dispose()


@pytest.mark.pg
async def test_a_backlog_on_a_table_never_analysed_is_claimed_without_sorting_it(
    pg_url: str,
) -> None:
    """A new database whose outbox no ANALYZE has seen with rows in it: the
    planner does not know `seq` follows the table's order and sorted every
    unsent row for each claim. The relay's first full claim has `seq`
    analysed; the claims after it walk the unsent rows in order and stop
    after the batch."""
    db = await _db(pg_url)
    async with db.driver() as conn:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        await conn.execute("ANALYZE outbox")  # empty: no column statistics
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=100)
    async with db.transaction() as s:
        for n in range(250):
            emit(s, CounterTicked(counter=f"c{n % 7}", n=n))
    assert await relay.drain() == 250
    async with db.driver() as conn:
        await conn.execute(_RAW_ROWS, 20_000, 60, False)
        nodes = await _claim_plan(db, conn, limit=100)
    assert _read_per_claimed_row(nodes, 100) == []
    await db.dispose()


@pytest.mark.pg
async def test_the_relay_does_not_wait_on_a_vacuum_to_analyse_the_outbox(pg_url: str) -> None:
    """A VACUUM (or ANALYZE, or CREATE INDEX CONCURRENTLY) of the outbox
    holds the lock an ANALYZE needs, for minutes on a large table. The
    relay's first full claim on a table never analysed gives up on the
    statistics after a moment and keeps publishing."""
    db = await _db(pg_url)
    async with db.driver() as conn:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=10)
    async with db.transaction() as s:
        for n in range(25):
            emit(s, CounterTicked(counter=f"c{n % 3}", n=n))
    async with db.driver() as vacuum, vacuum.transaction():
        await vacuum.execute("LOCK TABLE outbox IN SHARE UPDATE EXCLUSIVE MODE")
        assert await asyncio.wait_for(relay.drain(), 15) == 25
    await db.dispose()


#: Planner settings a claim must give the same rows under: each forces
#: another plan for the same statement.
_PLANS = [
    (),
    ("enable_nestloop",),
    ("enable_hashjoin", "enable_mergejoin"),
    ("enable_indexscan", "enable_bitmapscan"),
    ("enable_seqscan", "enable_bitmapscan"),
    ("enable_sort", "enable_hashagg"),
]


async def _random_outbox(conn: Any, rnd: random.Random, now: dt.datetime) -> list[tuple]:
    """A random outbox: (seq, key, unsent, claimable) per row, some sent,
    some waiting out a back-off, some whose back-off is over; sometimes
    analysed part-way (statistics from when every row was sent)."""
    await conn.execute("DELETE FROM outbox")
    keys = [f"k{i}" for i in range(rnd.randint(1, 6))]
    nxt = {"waiting": now + dt.timedelta(hours=1), "retry": now - dt.timedelta(seconds=1)}
    states = ["sent", "sent", "unsent", "unsent", "unsent", "waiting", "retry"]
    batches = [[rnd.choice(states) for _ in range(rnd.randint(0, 40))] for _ in range(2)]
    for n, batch in enumerate(batches):
        await conn.executemany(
            "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at,"
            " sent_at, attempts, next_attempt_at) VALUES (md5(random()::text), 't', $1, 'e',"
            " '{}'::jsonb, $2, $3, 0, $4)",
            [
                (rnd.choice(keys), now, now if state == "sent" else None, nxt.get(state))
                for state in batch
            ],
        )
        if n == 0 and rnd.random() < 0.3:
            await conn.execute("ANALYZE outbox")
    return [
        (
            r["seq"],
            r["key"],
            r["sent_at"] is None,
            r["sent_at"] is None and (r["next_attempt_at"] is None or r["next_attempt_at"] <= now),
        )
        for r in await conn.fetch("SELECT seq, key, sent_at, next_attempt_at FROM outbox")
    ]


@pytest.mark.pg
async def test_a_claim_takes_the_oldest_free_rows_and_holds_back_behind_any_other(
    pg_url: str,
) -> None:
    """On random outboxes, with rows locked by another relay's claim, keys
    skipped and any plan the planner may choose: the claim takes the
    `limit` oldest unsent rows that are not waiting out a back-off, not
    locked and not of a skipped key, and holds back exactly those with an
    earlier unsent row of their key outside the claim."""
    db = await _db(pg_url)
    rnd = random.Random(32)
    now = utcnow()
    async with db.driver() as conn, db.driver() as other:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        for _ in range(150):
            rows = await _random_outbox(conn, rnd, now)
            unsent = [r for r in rows if r[2]]
            locked = {r[0] for r in unsent if rnd.random() < 0.2}
            skip = sorted({r[1] for r in rows if rnd.random() < 0.1})
            limit = rnd.randint(1, 30)
            claimable = [r for r in rows if r[3] and r[0] not in locked and r[1] not in skip]
            free = sorted(claimable)[:limit]
            taken = {r[0] for r in free}
            expected = [
                (seq, key, any(u[1] == key and u[0] < seq and u[0] not in taken for u in unsent))
                for seq, key, _, _ in free
            ]
            other_tx = other.transaction()
            await other_tx.start()
            await other.execute(
                "SELECT 1 FROM outbox WHERE seq = ANY($1) FOR UPDATE", sorted(locked)
            )
            for off in _PLANS:
                async with conn.transaction():
                    # Off costs 10^10: no JIT compiling each forced plan (0.3 s).
                    await conn.execute("SET LOCAL jit = off")
                    for setting in off:
                        await conn.execute(f"SET LOCAL {setting} = off")
                    got = await _CLAIM_ON_DRIVER.fetch(
                        db, conn, {"now": now, "limit": limit, "skip": skip}
                    )
                assert [(r["seq"], r["key"], r["held_back"]) for r in got] == expected, off
            await other_tx.rollback()
    await db.dispose()


@pytest.mark.pg
async def test_a_relay_held_back_by_another_s_claim_tries_again_before_the_sweep(
    pg_url: str,
) -> None:
    """Two replicas' relays on one hot key: one claims the key's oldest row,
    the other's claim is held back behind it. When the first lets go, no
    commit may come to wake the second: it tries again by itself, long
    before its sweep (an hour here)."""
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t", batch_size=100, sweep_seconds=3600)
    async with db.transaction() as s:
        for n in range(5):
            emit(s, CounterTicked(counter="hot", n=n))
    async with db.session() as s:
        first = await s.scalar(select(func.min(OutboxRow.seq)))
    relay.start()
    try:
        async with db.driver() as other:
            claim = other.transaction()
            await claim.start()
            # Another replica's relay has claimed the key's oldest row.
            await other.execute("SELECT 1 FROM outbox WHERE seq = $1 FOR UPDATE", first)
            relay.wake()
            for _ in range(500):
                if relay.held_back:
                    break
                await asyncio.sleep(0.01)
            assert relay.held_back and rec.published == []
            await claim.rollback()  # it gave the row up (it crashed): no commit, no wake-up
        for _ in range(1000):  # a guard against waiting forever, not a timing
            if len(rec.published) == 5 and not relay.held_back:
                break
            await asyncio.sleep(0.01)
        assert _sequence_per_key(rec.published) == {"hot": [0, 1, 2, 3, 4]}
        assert not relay.held_back
    finally:
        await relay.stop()
        await db.dispose()


def test_a_relay_held_back_tries_again_soon_while_it_publishes_and_backs_off_when_not() -> None:
    """`held_back_retry`: nothing held back, no retry of its own; held back
    while publishing (two relays taking turns on a hot key), again after
    10 ms every time; held back with nothing published (a row waiting out
    a back-off), twice as long each pass, never beyond the sweep."""
    assert held_back_retry(False, 0, 5, 2.0) == (None, 0)
    assert held_back_retry(True, 200, 0, 2.0) == (HELD_BACK_RETRY_SECONDS, 0)
    assert held_back_retry(True, 200, 7, 2.0) == (HELD_BACK_RETRY_SECONDS, 0)
    delays, idle = [], 0
    for _ in range(12):
        delay, idle = held_back_retry(True, 0, idle, 2.0)
        delays.append(delay)
    assert delays[:4] == [0.01, 0.02, 0.04, 0.08]
    assert delays[-1] == 2.0 and all(d is not None and d <= 2.0 for d in delays)
    assert held_back_retry(True, 0, 16, 2.0) == (2.0, 16)  # the count stops growing


# --- rows published at once by the writing process's relay (PostgreSQL) ---------
# `Writes.events` leases a transaction's rows to its own process's relay,
# which publishes them after the commit with no claim (`publish_direct`);
# every other relay leaves them alone until their lease ends, and a key's
# later rows wait behind them.


async def _write(db: Database, *ticks: tuple[str, int], on_driver: bool = False) -> None:
    """One transaction whose last step writes the ticks' events (`Writes`)."""
    payloads = [CounterTicked(counter=c, n=n) for c, n in ticks]
    if on_driver:
        async with db.driver_unit() as unit:
            w = Writes()
            w.events(unit, payloads)
            await w.execute(await unit.connection())
        return
    async with db.transaction() as s:
        w = Writes()
        w.events(s, payloads)
        await w.execute(await s.connection())


async def _rows(db: Database) -> dict[int, OutboxRow]:
    async with db.session() as s:
        rows = (await s.execute(select(OutboxRow).order_by(OutboxRow.seq))).scalars().all()
    return {Envelope.model_validate(r.envelope).data["n"]: r for r in rows}


def _published(rec: Recorder) -> list[int]:
    return [Envelope.from_message(m).data["n"] for m in rec.published]


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True], ids=["session", "driver"])
async def test_a_commit_s_rows_are_published_at_once_without_a_claim(
    pg_url: str, on_driver: bool
) -> None:
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t")
    relay._drain_due = False  # the start's drain is done
    await _write(db, ("a", 1), ("b", 2), on_driver=on_driver)
    before = await _rows(db)
    assert all(r.next_attempt_at is not None and r.sent_at is None for r in before.values())
    # Handed to this relay, and nothing for a claim to do.
    assert [r.seq for r in relay._direct] == [before[1].seq, before[2].seq]
    assert not relay._drain_due
    # Another replica's relay leaves them alone while they are leased.
    other_rec = Recorder()
    other = OutboxRelay(Database(pg_url), other_rec, service="t")
    assert await other.drain() == 0
    assert await relay.run_pass(swept=False) == 2
    assert _published(rec) == [1, 2]
    after = await _rows(db)
    assert all(
        r.sent_at is not None and r.next_attempt_at is None and r.attempts == 1
        for r in after.values()
    )
    assert await other.drain() == 0 and other_rec.published == []
    await other.db.dispose()
    await db.dispose()


@pytest.mark.pg
async def test_a_batch_s_rows_are_leased_after_its_writes_and_published_in_seq_order(
    pg_url: str,
) -> None:
    """A group commit's batch on the driver sends its writes at its end
    (BatchWrites), then leases its outbox rows in one more statement: each
    whose key has no unsent row but the batch's own, handed to this
    process's relay in seq order; a key with an unsent row before the batch
    is left to a claim, behind that row."""
    from svc_common.audit import SYSTEM, audit_row
    from svc_common.batching import GroupCommit, batch_writes

    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t")
    relay._drain_due = False
    await _write(db, ("b", 0))  # leased to this relay, not yet sent
    batches = GroupCommit(db, max_batch=16, on_driver=True)

    def tick(i: int):  # type: ignore[no-untyped-def]
        async def op(s: Any) -> None:
            w = Writes()
            w.events(s, [CounterTicked(counter="a", n=i), CounterTicked(counter="b", n=10 + i)])
            w.audit([audit_row(SYSTEM, "test.tick", "counter", str(i), None)])
            await w.execute(await s.connection(), batch_writes(s))

        return op

    sent = batches.statements_sent
    await asyncio.gather(*(batches.run("k", tick(i)) for i in (1, 2, 3)))
    assert (batches.batches, batches.operations) == (1, 3)
    assert batches.statements_sent - sent == 2  # the writes, and the lease
    rows = await _rows(db)
    assert all(rows[n].next_attempt_at is not None for n in (0, 1, 2, 3))  # leased
    assert all(rows[n].next_attempt_at is None for n in (11, 12, 13))  # behind row 0
    assert [r.seq for r in relay._direct] == [rows[n].seq for n in (0, 1, 2, 3)]
    assert relay._drain_due  # rows 11 to 13 are to claim
    assert await relay.run_pass(swept=False) == 7
    assert _sequence_per_key(rec.published) == {"a": [1, 2, 3], "b": [0, 11, 12, 13]}
    await db.dispose()


@pytest.mark.pg
async def test_a_row_behind_an_unsent_row_of_its_key_is_claimed_in_order(pg_url: str) -> None:
    """The second commit's row of key a finds the first unsent: it is not
    leased; a claim holds it back until the first is published."""
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t")
    relay._drain_due = False
    await _write(db, ("a", 1))
    await _write(db, ("a", 2), ("b", 3))
    rows = await _rows(db)
    assert rows[1].next_attempt_at is not None  # leased
    assert rows[2].next_attempt_at is None  # behind row 1: to claim
    assert rows[3].next_attempt_at is not None  # b has no earlier row
    assert [r.seq for r in relay._direct] == [rows[1].seq, rows[3].seq]
    assert relay._drain_due  # row 2 is to claim
    other_rec = Recorder()
    other = OutboxRelay(Database(pg_url), other_rec, service="t")
    # Another relay claims row 2 but holds it back behind leased row 1.
    assert await other.drain() == 0 and other.held_back
    assert await relay.run_pass(swept=False) == 3
    assert _published(rec) == [1, 3, 2]
    assert await other.drain() == 0  # all sent
    await other.db.dispose()
    await db.dispose()


@pytest.mark.pg
async def test_rows_whose_writer_died_are_published_by_another_once_the_lease_ends(
    pg_url: str,
) -> None:
    db = await _db(pg_url)
    relay = OutboxRelay(db, Recorder(), service="t")
    await _write(db, ("a", 1), ("a", 2))
    relay._direct.clear()  # the process died after its commit
    other_rec = Recorder()
    other = OutboxRelay(Database(pg_url), other_rec, service="t")
    assert await other.drain() == 0
    async with db.transaction() as s:  # the lease ends
        await s.execute(text("UPDATE outbox SET next_attempt_at = :t"), {"t": utcnow()})
    assert await other.drain() == 2
    assert _published(other_rec) == [1, 2]
    await other.db.dispose()
    await db.dispose()


@pytest.mark.pg
async def test_a_rolled_back_write_is_never_published(pg_url: str) -> None:
    """Rows undone after they were written, by a rollback of the whole
    transaction or of a savepoint, are not handed to the relay: it would
    announce what never happened."""
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t")
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            w = Writes()
            w.events(s, [CounterTicked(counter="a", n=1)])
            await w.execute(await s.connection())
            assert s.info[OUTBOX_DIRECT]
            raise RuntimeError("refused after the write")
    async with db.transaction() as s:
        emit(s, CounterTicked(counter="b", n=2))
        await s.flush()
        async with s.begin_nested() as savepoint:
            w = Writes()
            w.events(s, [CounterTicked(counter="c", n=3)])
            await w.execute(await s.connection())
            await savepoint.rollback()
    async with db.transaction() as s:
        w = Writes()
        w.events(s, [CounterTicked(counter="d", n=4)])
        await w.execute(await s.connection())
        assert s.info[OUTBOX_DIRECT]
        async with s.begin_nested() as savepoint:  # a later savepoint undone
            await savepoint.rollback()
    assert relay._direct == []
    assert sorted(await _rows(db)) == [2, 4]
    assert await relay.run_pass(swept=False) == 1
    assert _published(rec) == [2]  # row 4 waits out its lease
    await db.dispose()


@pytest.mark.pg
async def test_a_write_inside_a_savepoint_is_not_leased(pg_url: str) -> None:
    db = await _db(pg_url)
    relay = OutboxRelay(db, Recorder(), service="t")
    async with db.transaction() as s, s.begin_nested():
        w = Writes()
        w.events(s, [CounterTicked(counter="a", n=1)])
        await w.execute(await s.connection())
    assert relay._direct == []
    assert (await _rows(db))[1].next_attempt_at is None
    assert await relay.run_pass(swept=False) == 1
    await db.dispose()


@pytest.mark.pg
async def test_a_refused_direct_publish_waits_out_a_back_off(pg_url: str) -> None:
    db = await _db(pg_url)
    rec = Recorder(fail={1})
    relay = OutboxRelay(db, rec, service="t")
    await _write(db, ("a", 1), ("b", 2))
    start = utcnow()
    assert await relay.publish_direct() == 1
    rows = await _rows(db)
    assert rows[2].sent_at is not None
    refused = rows[1]
    assert refused.sent_at is None and refused.attempts == 1
    assert "broker said no to 1" in (refused.last_error or "")
    assert refused.next_attempt_at is not None
    back_off: dt.timedelta = refused.next_attempt_at - start
    assert dt.timedelta(seconds=0.4) < back_off < dt.timedelta(seconds=outbox.DIRECT_LEASE_SECONDS)
    await db.dispose()


@pytest.mark.pg
async def test_a_row_another_relay_sent_after_the_lease_keeps_its_mark(pg_url: str) -> None:
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t")
    await _write(db, ("a", 1))
    sent_by_other = utcnow() - dt.timedelta(seconds=1)
    async with db.transaction() as s:
        await s.execute(
            text("UPDATE outbox SET sent_at = :t, attempts = 1, next_attempt_at = NULL"),
            {"t": sent_by_other},
        )
    await relay.publish_direct()
    row: Any = (await _rows(db))[1]
    assert row.sent_at == sent_by_other and row.attempts == 1
    await db.dispose()


@pytest.mark.pg
async def test_the_broker_s_return_cuts_back_offs_short_but_not_another_s_lease(
    pg_url: str,
) -> None:
    db = await _db(pg_url)
    relay = OutboxRelay(db, Recorder(fail={1}), service="t")
    await _write(db, ("a", 1))
    await relay.publish_direct()  # refused: backed off
    await _write(db, ("b", 2))  # leased, being published by its writer
    await relay._recovered()
    rows = await _rows(db)
    assert rows[1].attempts == 1 and rows[1].next_attempt_at is None
    assert rows[2].attempts == 0 and rows[2].next_attempt_at is not None
    await db.dispose()


class _Raising(Recorder):
    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        raise ConnectionError("transport gone")


@pytest.mark.pg
async def test_rows_a_transport_raised_on_are_tried_again_by_the_next_pass(pg_url: str) -> None:
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, _Raising(), service="t")
    await _write(db, ("a", 1))
    with pytest.raises(ConnectionError):
        await relay.publish_direct()
    await _write(db, ("b", 2))
    relay.transport = rec
    assert await relay.publish_direct() == 2
    assert _published(rec) == [1, 2]
    await db.dispose()


@pytest.mark.pg
async def test_a_relay_woken_only_by_its_own_rows_still_sweeps(pg_url: str) -> None:
    """A busy replica is woken by rows it publishes at once, and those passes
    do not drain; once its last drain is `sweep_seconds` old a pass drains
    anyway: a dead replica's row, its lease run out, is not left waiting
    for a quiet moment."""
    db = await _db(pg_url)
    rec = Recorder()
    # No sweep due for an hour while the last drain must count as recent (a
    # new connection for the other process could take longer than 0.3 s on
    # a loaded machine, and its pass swept), then 0.3 s: by then it is old.
    relay = OutboxRelay(db, rec, service="t", sweep_seconds=3600)
    assert await relay.run_pass(swept=False) == 0  # the first pass drains
    other = Database(pg_url)  # another process: its commit wakes not this relay
    async with other.transaction() as s:
        emit(s, CounterTicked(counter="z", n=0))
    await other.dispose()
    await _write(db, ("a", 1))
    assert await relay.run_pass(swept=False) == 1
    assert _published(rec) == [1]  # z waits: the last drain is recent
    relay.sweep_seconds = 0.3
    await asyncio.sleep(0.35)
    await _write(db, ("b", 2))
    assert await relay.run_pass(swept=False) == 2
    assert _published(rec) == [1, 2, 0]
    await db.dispose()


@pytest.mark.pg
async def test_a_drain_that_failed_is_due_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await _db(pg_url)
    rec = Recorder()
    relay = OutboxRelay(db, rec, service="t")

    async def refused(skip: set[str]) -> tuple[int, int, set[str]]:
        raise ConnectionError("database gone")

    monkeypatch.setattr(relay, "_relay_once", refused)
    with pytest.raises(ConnectionError):
        await relay.run_pass(swept=False)
    assert relay._drain_due
    monkeypatch.undo()
    other = Database(pg_url)  # a row this relay was not woken for
    async with other.transaction() as s:
        emit(s, CounterTicked(counter="a", n=1))
    await other.dispose()
    relay._drained_at = utcnow()  # so the next pass is no sweep
    assert await relay.run_pass(swept=False) == 1  # the failed drain, again
    await db.dispose()


class _Batches(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        self.sizes.append(len(messages))
        return await super().publish_batch(messages)


@pytest.mark.pg
async def test_rows_published_at_once_go_a_claim_s_worth_at_a_time(pg_url: str) -> None:
    db = await _db(pg_url)
    rec = _Batches()
    relay = OutboxRelay(db, rec, service="t", batch_size=3)
    for n in range(7):
        await _write(db, (f"k{n}", n))
    assert await relay.publish_direct() == 7
    assert rec.sizes == [3, 3, 1]
    assert _published(rec) == list(range(7))
    await db.dispose()
