"""The event backbone against a real Kafka broker and real PostgreSQL:
outbox → relay → Kafka → inbox consumer, exactly once in effect.

This module is also the consumer process of the kill-and-restart test:
`python test_kafka_backbone.py consume DB_URL GROUP BOOTSTRAP SLOW`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import APIRouter, Depends
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from svc_common import context, testing
from svc_common.auth import Principal, require
from svc_common.db import CommonBase, Database
from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import EventPayload, event
from svc_common.inbox import EventHandlers, InboxConsumer
from svc_common.outbox import OutboxRelay, emit
from svc_common.service import ServiceSpec, create_app, get_db
from svc_common.settings import ServiceSettings
from svc_common.tables import DeadLetter, InboxRow, OutboxRow
from svc_common.transports.kafka import KafkaTransport

pytestmark = [pytest.mark.kafka, pytest.mark.pg]

# One topic per test session (inherited by the consumer subprocess), so a
# rerun against the same broker never reads an earlier run's events.
TOPIC = os.environ.setdefault("NOTES_TOPIC", f"notes-{uuid.uuid4().hex[:8]}.events")
QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"


@event("test.note_added.v1", topic=TOPIC, key="note_id")
class NoteAdded(EventPayload):
    """A note was added (test event)."""

    note_id: str
    poison: bool = False


class NotesBase(DeclarativeBase):
    pass


class Effect(NotesBase):
    """One row per application of a NoteAdded: a duplicate would show twice."""

    __tablename__ = "effects"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    note_id: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


def note_handlers(slow: float = 0.0) -> EventHandlers:
    handlers = EventHandlers()

    @handlers.on(NoteAdded)
    async def apply(s, payload: NoteAdded, env) -> None:  # type: ignore[no-untyped-def]
        if payload.poison:
            raise RuntimeError("poison note")
        if slow:
            await asyncio.sleep(slow)
        s.add(Effect(note_id=payload.note_id, correlation_id=env.correlationid))

    return handlers


async def open_db(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(CommonBase.metadata.create_all)
        await conn.run_sync(NotesBase.metadata.create_all)
    return db


async def effects(db: Database) -> Counter[str]:
    async with db.session() as s:
        return Counter((await s.execute(select(Effect.note_id))).scalars().all())


async def wait_for(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.2)


async def unsent(db: Database) -> int:
    async with db.session() as s:
        n = await s.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
        )
        return int(n or 0)


@pytest.fixture
async def two_dbs(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    async with (
        testing.database_url("pg", tmp_path, "producer") as a,
        testing.database_url("pg", tmp_path, "consumer") as b,
    ):
        dba, dbb = await open_db(a), await open_db(b)
        yield dba, dbb
        await dba.dispose()
        await dbb.dispose()


@pytest.fixture
async def consumer_side(
    two_dbs: tuple[Database, Database],
) -> AsyncIterator[tuple[InboxConsumer, KafkaTransport]]:
    bootstrap = testing.kafka_bootstrap()
    transport = KafkaTransport(bootstrap, client_id="notes-consumer")
    await transport.ensure_topics([TOPIC])
    consumer = InboxConsumer(
        two_dbs[1],
        transport,
        note_handlers(),
        group=f"notes-{uuid.uuid4().hex[:6]}",
        max_attempts=2,
        backoff_seconds=0.05,
    )
    consumer.subscribe()
    await transport.start()
    yield consumer, transport
    await transport.stop()


@pytest.fixture
async def relay(two_dbs: tuple[Database, Database]) -> AsyncIterator[OutboxRelay]:
    transport = KafkaTransport(testing.kafka_bootstrap(), client_id="notes-producer")
    relay = OutboxRelay(two_dbs[0], transport, service="notes", sweep_seconds=0.3)
    relay.start()
    yield relay
    await relay.stop()
    await transport.stop()


async def read_topic(bootstrap: str, topic: str) -> list[Message]:
    """Every record of a topic from offset 0, without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Message] = []

        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < end[tp]:
                    return True
            return False

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(
                    Message(
                        topic=tp.topic,
                        key=r.key.decode() if r.key else None,
                        value=r.value or b"",
                        headers=list(r.headers or []),
                        partition=r.partition,
                        offset=r.offset,
                    )
                    for r in records
                )
        return out
    finally:
        await consumer.stop()


async def test_event_reaches_other_service_once_with_correlation_id(
    two_dbs: tuple[Database, Database], relay: OutboxRelay, consumer_side
) -> None:
    producer_db, consumer_db = two_dbs
    consumer, _ = consumer_side
    run = uuid.uuid4().hex[:6]
    with context.use(context.TraceContext(correlation_id=f"corr-{run}")):
        async with producer_db.transaction() as s:
            for i in range(20):
                emit(s, NoteAdded(note_id=f"{run}-{i}"))

    async def all_arrived() -> bool:
        return len(await effects(consumer_db)) == 20

    await wait_for(all_arrived, 60, "20 notes to be applied")
    await asyncio.sleep(1.0)  # anything extra would arrive now
    counts = await effects(consumer_db)
    assert set(counts.values()) == {1}
    async with consumer_db.session() as s:
        corr = set((await s.execute(select(Effect.correlation_id))).scalars())
    assert corr == {f"corr-{run}"}
    assert await unsent(producer_db) == 0

    # The same events delivered again, replayed from offset 0: nothing changes.
    replay = [
        m
        for m in await read_topic(testing.kafka_bootstrap(), TOPIC)
        if m.header("ce_correlationid") == f"corr-{run}"
    ]
    assert len(replay) == 20
    for msg in replay:
        await consumer.process(msg)
    assert await effects(consumer_db) == counts
    async with consumer_db.session() as s:
        inbox = await s.scalar(select(func.count()).select_from(InboxRow))
    assert inbox == 20


async def test_failing_handler_dead_letters_and_consumption_goes_on(
    two_dbs: tuple[Database, Database], relay: OutboxRelay, consumer_side
) -> None:
    producer_db, consumer_db = two_dbs
    note = f"dlq-{uuid.uuid4().hex[:6]}"
    async with producer_db.transaction() as s:
        # Same key, so the good note sits behind the poison one in one partition.
        emit(s, NoteAdded(note_id=note, poison=True))
        emit(s, NoteAdded(note_id=note))

    async def good_applied() -> bool:
        return (await effects(consumer_db))[note] == 1

    await wait_for(good_applied, 60, "the note after the poison one")
    dead = [m for m in await read_topic(testing.kafka_bootstrap(), TOPIC + ".dlq") if m.key == note]
    assert len(dead) == 1
    assert "poison note" in (dead[0].header("dlq_error") or "")
    assert dead[0].header("dlq_original_topic") == TOPIC
    assert dead[0].header("ce_type") == "test.note_added.v1"


async def test_unreadable_messages_are_dead_lettered_and_the_partition_goes_on(
    two_dbs: tuple[Database, Database], consumer_side
) -> None:
    """Records no producer of ours writes, ahead of a good note on one
    partition: each is kept as a dead letter an operator can list, and the
    note behind them is applied. Before, a key or header that was not UTF-8
    or JSON nested past the parser's depth took the whole consumer down at
    every restart, and a dead letter its row could not hold (a key longer
    than its column, a NUL byte) was retried for ever: nothing of it in
    `bureau dlq`, every later event of the partition waiting."""
    _, consumer_db = two_dbs
    consumer, transport = consumer_side
    run = uuid.uuid4().hex[:6]

    def headers(kind: str, event_type: bytes = b"test.note_added.v1") -> list[tuple[str, bytes]]:
        return [
            ("ce_id", f"unreadable-{run}-{kind}".encode()),
            ("ce_source", b"urn:elsewhere"),
            ("ce_specversion", b"1.0"),
            ("ce_type", event_type),
            ("ce_partitionkey", b"k"),
        ]

    # A key is not part of the event: one that is not UTF-8 does not stop
    # a readable event from being applied.
    odd_key = (b"\xff\xfe", f'{{"note_id": "odd-key-{run}"}}'.encode(), headers("odd-key"))
    poison: dict[str, tuple[bytes, bytes, list[tuple[str, bytes]]]] = {
        "type-not-utf8": (b"k", b'{"note_id": "x"}', headers("type-not-utf8", b"\xff\xfe")),
        "too-deep": (b"k", b"[" * 100_000 + b"]" * 100_000, headers("too-deep")),
        "long-key": (b"K" * 300, b"not json", headers("long-key")),
        "nul-byte": (b"k", b'{"note_id": "\x00"}', headers("nul-byte")),
    }
    good = Envelope(
        source="urn:test",
        type=NoteAdded.event_type,
        partitionkey=f"after-{run}",
        data=NoteAdded(note_id=f"after-{run}").model_dump(mode="json"),
    ).to_message(TOPIC)
    producer = AIOKafkaProducer(bootstrap_servers=testing.kafka_bootstrap())
    await producer.start()
    try:
        for key, value, hdrs in [odd_key, *poison.values()]:
            await producer.send_and_wait(TOPIC, value=value, key=key, headers=hdrs, partition=0)
        await producer.send_and_wait(
            TOPIC,
            value=good.value,
            key=(good.key or "").encode(),
            headers=good.headers,
            partition=0,
        )
    finally:
        await producer.stop()

    async def good_applied() -> bool:
        return (await effects(consumer_db))[f"after-{run}"] == 1

    await wait_for(good_applied, 60, "the note behind the unreadable records")
    assert (await effects(consumer_db))[f"odd-key-{run}"] == 1
    async with consumer_db.session() as s:
        dead = {
            d.message_id.removeprefix(f"unreadable-{run}-"): d
            for d in (
                await s.execute(
                    select(DeadLetter).where(
                        DeadLetter.consumer_group == consumer.group,
                        DeadLetter.message_id.like(f"unreadable-{run}-%"),
                    )
                )
            ).scalars()
        }
    assert sorted(dead) == sorted(poison)
    assert all(d.status == "dead" and d.error for d in dead.values())
    assert "RecursionError" in dead["too-deep"].error
    assert dead["long-key"].key == "K" * 200
    assert "\x00" not in dead["nul-byte"].value
    assert transport.retrying() == {}


async def test_an_unexpected_error_pauses_its_partition_not_the_consumer() -> None:
    """A process function that raises something no one expected (a bug in
    applying one message) restarted the whole consumer at every attempt,
    with nothing but a log line to show it. Now that message's partition
    waits, named with the error in `retrying()` (what /ready shows), and
    the other partitions are consumed."""
    topic = f"bug-{uuid.uuid4().hex[:8]}.events"
    transport = KafkaTransport(testing.kafka_bootstrap(), client_id="bug-consumer")
    await transport.ensure_topics([topic])
    seen: list[tuple[int, bytes]] = []

    async def process(msg: Message) -> None:
        if msg.value == b"bug":
            raise KeyError("a bug in applying it")
        seen.append((msg.partition, msg.value))

    transport.subscribe(f"bug-{uuid.uuid4().hex[:6]}", [topic], process)
    producer = AIOKafkaProducer(bootstrap_servers=testing.kafka_bootstrap())
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"bug", partition=0)
        await producer.send_and_wait(topic, value=b"behind", partition=0)
        await producer.send_and_wait(topic, value=b"beside", partition=1)
        await transport.start()

        async def beside_applied() -> bool:
            return (1, b"beside") in seen and bool(transport.retrying())

        await wait_for(beside_applied, 60, "the other partition, and the paused one named")
        (paused, error), *_ = transport.retrying().items()
        assert paused.endswith(f"{topic}[0]") and "a bug in applying it" in error
        assert (0, b"behind") not in seen  # order kept: it waits behind the failing one
        assert all(sub.task is not None and not sub.task.done() for sub in transport._subs)
    finally:
        await producer.stop()
        await transport.stop()


notes_router = APIRouter()


@notes_router.post("/notes/notes/{note_id}", status_code=201)
async def add_note(
    note_id: str,
    principal: Principal = Depends(require("officer")),
    db: Database = Depends(get_db),
) -> dict[str, str]:
    async with db.transaction() as s:
        s.add(Effect(note_id=f"local-{note_id}"))
        emit(s, NoteAdded(note_id=note_id))
    return {"note_id": note_id}


def _kafka_ctl(action: str) -> None:
    ctl = os.environ.get("KAFKA_CTL")
    if not ctl:
        testing._missing("KAFKA_CTL")
    assert ctl
    subprocess.run([ctl, action], check=True, capture_output=True, timeout=180)


async def test_broker_outage_writes_succeed_and_events_arrive_later(
    two_dbs: tuple[Database, Database], consumer_side, tmp_path: Path
) -> None:
    producer_db, consumer_db = two_dbs
    url = str(producer_db.url)
    spec = ServiceSpec(
        name="notes-svc",
        prefix="/notes",
        title="notes",
        description="notes",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[notes_router],
    )
    settings = ServiceSettings(
        database_url=url,
        event_transport=f"kafka://{testing.kafka_bootstrap()}",
        jwt_secret=testing.DISTRIBUTED_SECRET,
        outbox_sweep_seconds=0.5,
        run_migrations=False,
        log_json=False,
    )
    run = uuid.uuid4().hex[:6]
    h = testing.auth("officer", ["120119"], secret=testing.DISTRIBUTED_SECRET)
    async with testing.running(create_app(spec, settings)) as client:
        assert (await client.post(f"/notes/notes/{run}-before", headers=h)).status_code == 201

        async def before_arrived() -> bool:
            return (await effects(consumer_db))[f"{run}-before"] == 1

        await wait_for(before_arrived, 60, "the note sent before the outage")

        await asyncio.to_thread(_kafka_ctl, "stop")
        try:
            for i in range(10):
                r = await client.post(f"/notes/notes/{run}-{i}", headers=h)
                assert r.status_code == 201, r.text
            await asyncio.sleep(1.0)
            assert await unsent(producer_db) == 10  # waiting in the outbox
            ready = await client.get("/notes/ready?events=1")
            assert ready.status_code == 503 and ready.json()["transport"] is False
            # The API itself stays ready: the outbox holds what is written.
            ready = await client.get("/notes/ready")
            assert ready.status_code == 200 and ready.json()["database"] is True
        finally:
            await asyncio.to_thread(_kafka_ctl, "start")

        async def all_arrived() -> bool:
            counts = await effects(consumer_db)
            return all(counts[f"{run}-{i}"] >= 1 for i in range(10))

        await wait_for(all_arrived, 120, "the 10 notes written during the outage")
        counts = await effects(consumer_db)
        assert all(counts[f"{run}-{i}"] == 1 for i in range(10))
        assert await unsent(producer_db) == 0


async def test_consumer_killed_mid_batch_loses_nothing_applies_nothing_twice(
    two_dbs: tuple[Database, Database], relay: OutboxRelay
) -> None:
    producer_db, consumer_db = two_dbs
    group = f"notes-kill-{uuid.uuid4().hex[:6]}"
    run = uuid.uuid4().hex[:6]
    n = 300
    await KafkaTransport(testing.kafka_bootstrap(), client_id="x").ensure_topics([TOPIC])
    async with producer_db.transaction() as s:
        for i in range(n):
            emit(s, NoteAdded(note_id=f"{run}-{i:03d}"))

    def start_consumer() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                __file__,
                "consume",
                consumer_db.url,
                group,
                testing.kafka_bootstrap(),
                "0.02",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def applied() -> int:
        return sum(1 for k in await effects(consumer_db) if k.startswith(run))

    proc = start_consumer()
    try:

        async def some_applied() -> bool:
            return await applied() >= 60

        await wait_for(some_applied, 90, "the consumer to apply some notes")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = await applied()
        assert killed_at < n, "the kill came too late to be mid-stream"
        proc = start_consumer()

        async def all_applied() -> bool:
            return await applied() == n

        await wait_for(all_applied, 120, f"all {n} notes after the restart")
        await asyncio.sleep(1.0)
        counts = await effects(consumer_db)
        assert sum(1 for k in counts if k.startswith(run)) == n
        assert all(v == 1 for k, v in counts.items() if k.startswith(run))
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def _consume_forever(db_url: str, group: str, bootstrap: str, slow: str) -> None:
    db = Database(db_url)
    transport = KafkaTransport(bootstrap, client_id=group)
    consumer = InboxConsumer(db, transport, note_handlers(float(slow)), group=group)
    consumer.subscribe()
    await transport.start()
    await asyncio.Event().wait()


if __name__ == "__main__" and sys.argv[1:2] == ["consume"]:
    asyncio.run(_consume_forever(*sys.argv[2:6]))
