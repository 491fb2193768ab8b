"""Infrastructure failures never lose progress: a handler that fails on the
database is retried (never dead-lettered) and applied once, in order, when it
is back; a request meets a 503, never a 500; a crash between commit and
answer leaves an answer to replay. Dead letters are kept and re-driven."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Depends
from sqlalchemy import String, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from svc_common import testing
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import CommonBase, Database
from svc_common.events.envelope import Message
from svc_common.events.registry import EventPayload, event
from svc_common.failures import (
    DatabaseUnreachable,
    PermanentFailure,
    TransientFailure,
    is_too_many_parameters,
    is_transient,
)
from svc_common.inbox import EventHandlers, InboxConsumer
from svc_common.outbox import OutboxRelay, emit
from svc_common.service import ServiceSpec, create_app, get_db
from svc_common.settings import ServiceSettings
from svc_common.tables import DeadLetter, OutboxRow
from svc_common.transports.local import LocalTransport

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"
TOPIC = f"steps-{uuid.uuid4().hex[:8]}.events"


@event("test.step_taken.v1", topic=TOPIC, key="walk")
class StepTaken(EventPayload):
    """A step of a walk (test event): steps of one walk must apply in order."""

    walk: str
    n: int


class StepsBase(DeclarativeBase):
    pass


class Step(StepsBase):
    __tablename__ = "steps"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    walk: Mapped[str] = mapped_column(String(64))
    n: Mapped[int]


class Faulty:
    """A handler that fails as told: `transient` more times on infrastructure,
    or `poison` steps forever (a bug, or data it cannot apply)."""

    def __init__(self) -> None:
        self.transient = 0
        self.poison: set[int] = set()
        self.calls = 0

    def handlers(self) -> EventHandlers:
        handlers = EventHandlers()

        @handlers.on(StepTaken)
        async def apply(s: Any, p: StepTaken, env: Any) -> None:
            self.calls += 1
            if self.transient > 0:
                self.transient -= 1
                raise sa_exc.OperationalError(
                    "SELECT 1", {}, sqlite3.OperationalError("database is locked")
                )
            if p.n in self.poison:
                raise ValueError(f"step {p.n} cannot be applied")
            s.add(Step(walk=p.walk, n=p.n))

        return handlers


async def _open(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(CommonBase.metadata.create_all)
        await conn.run_sync(StepsBase.metadata.create_all)
    return db


async def _steps(db: Database, walk: str) -> list[int]:
    async with db.session() as s:
        return list(
            (await s.execute(select(Step.n).where(Step.walk == walk).order_by(Step.id))).scalars()
        )


async def _count(db: Database, table: Any) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


# --- classification -----------------------------------------------------------


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _asyncpg_internal(says: str) -> BaseException:
    from asyncpg.exceptions import InternalClientError

    return InternalClientError(f"cannot switch to state 12; {says}")


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (sa_exc.OperationalError("x", {}, sqlite3.OperationalError("database is locked")), True),
        (sa_exc.InterfaceError("x", {}, Exception("connection is closed")), True),
        (sa_exc.DBAPIError("x", {}, _PgError("40001")), True),  # serialization failure
        (sa_exc.DBAPIError("x", {}, _PgError("40P01")), True),  # deadlock
        (sa_exc.DBAPIError("x", {}, _PgError("23505")), False),  # unique violation
        (sa_exc.IntegrityError("x", {}, Exception("CHECK failed")), False),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ValueError("bad data"), False),
        (KeyError("bug"), False),
        (TransientFailure("x"), True),
        # asyncpg: a session the server ended, found before its socket closed;
        # two operations at once on one connection is a bug.
        (_asyncpg_internal("another operation (2) is in progress"), True),
        (_asyncpg_internal("another operation (12) is in progress"), False),
    ],
)
def test_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


async def test_a_statement_with_too_many_parameters_is_not_transient(db_url: str) -> None:
    """More bind parameters than PostgreSQL's protocol (32767) or SQLite
    (32766 by default; 250000 as Debian builds it) takes: asyncpg raises an
    InterfaceError and SQLite an OperationalError, classes that otherwise
    mean the database is away, but the same statement fails again whatever
    its state (it was 503 with Retry-After, an event retried for ever)."""
    db = await _open(db_url)
    n = 40_000 if db.is_postgres else 300_000
    try:
        async with db.session() as s:
            with pytest.raises(Exception) as raised:
                await s.execute(select(Step.id).where(Step.n.in_(list(range(n)))))
        assert is_too_many_parameters(raised.value)
        assert is_transient(raised.value) is False
        try:
            raise RuntimeError("while applying") from raised.value
        except RuntimeError as wrapped:
            assert is_transient(wrapped) is False
    finally:
        await db.dispose()


def test_permanent_wins_over_a_transient_cause() -> None:
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as inner:
            raise PermanentFailure("the domain refuses this event") from inner
    except PermanentFailure as exc:
        assert is_transient(exc) is False


def test_a_wrapped_transient_cause_counts() -> None:
    try:
        try:
            raise sa_exc.OperationalError("x", {}, Exception("server closed the connection"))
        except sa_exc.OperationalError as inner:
            raise RuntimeError("while applying") from inner
    except RuntimeError as exc:
        assert is_transient(exc) is True


# --- in-process transport: retried, in order, never dead-lettered ------------------


async def test_transient_failure_is_retried_in_order_not_dead_lettered(db_url: str) -> None:
    # One database plays both services: outbox on one side, inbox on the other.
    producer = consumer_db = await _open(db_url)
    faulty = Faulty()
    transport = LocalTransport()
    consumer = InboxConsumer(consumer_db, transport, faulty.handlers(), group="steps")
    consumer.subscribe()
    relay = OutboxRelay(producer, transport, service="walker")
    walk = uuid.uuid4().hex[:6]
    faulty.transient = 3
    async with producer.transaction() as s:
        for n in range(5):
            emit(s, StepTaken(walk=walk, n=n))
    for _ in range(3):  # the database "comes back" after three failed tries
        await relay.drain()
        async with producer.transaction() as s:  # skip the back-off wait
            await s.execute(OutboxRow.__table__.update().values(next_attempt_at=None))
    await relay.drain()
    assert await _steps(consumer_db, walk) == [0, 1, 2, 3, 4]
    assert await _count(consumer_db, DeadLetter) == 0
    assert transport.dead_letters == []
    async with producer.session() as s:
        unsent = await s.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
        )
    assert unsent == 0
    await producer.dispose()


# --- dead letters: kept, listed, re-driven ------------------------------------------


def _steps_app(url: str, faulty: Faulty, transport: LocalTransport) -> Any:
    spec = ServiceSpec(
        name="steps-svc",
        prefix="/steps",
        title="steps",
        description="steps",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[],
        handlers=faulty.handlers(),
    )
    settings = ServiceSettings(database_url=url, log_json=False, consumer_max_attempts=2)
    settings.consumer_retry_backoff_seconds = 0.01
    return create_app(spec, settings, transport=transport)


async def test_poison_event_is_kept_and_can_be_redriven(db_url: str) -> None:
    faulty = Faulty()
    faulty.poison = {1}
    transport = LocalTransport()
    app = _steps_app(db_url, faulty, transport)
    admin = testing.auth("admin")
    async with testing.running(app) as c:
        db: Database = app.state.runtime.db
        async with db.engine.begin() as conn:
            await conn.run_sync(StepsBase.metadata.create_all)
        walk = uuid.uuid4().hex[:6]
        for n in range(3):
            await testing.deliver(app, StepTaken(walk=walk, n=n))
        assert await _steps(db, walk) == [0, 2]  # consumption went on past the poison
        listed = (await c.get("/steps/admin/dead-letters", headers=admin)).json()["items"]
        assert len(listed) == 1 and listed[0]["event_type"] == "test.step_taken.v1"
        assert "cannot be applied" in listed[0]["error"] and listed[0]["attempts"] == 2
        dl = listed[0]["id"]
        shown = (await c.get(f"/steps/admin/dead-letters/{dl}", headers=admin)).json()
        assert '"n":1' in shown["value"].replace(" ", "")
        officer = testing.auth("officer", ["120119"])
        assert (
            await c.post(f"/steps/admin/dead-letters/{dl}/redrive", headers=officer)
        ).status_code == 403
        scoped = testing.auth("admin", ["120119"])
        assert (
            await c.post(f"/steps/admin/dead-letters/{dl}/redrive", headers=scoped)
        ).status_code == 403

        still = await c.post(f"/steps/admin/dead-letters/{dl}/redrive", headers=admin)
        assert still.status_code == 200 and still.json()["status"] == "dead"  # not fixed yet
        faulty.poison = set()  # the handler is fixed
        r = await c.post(f"/steps/admin/dead-letters/{dl}/redrive", headers=admin)
        assert r.status_code == 200 and r.json()["status"] == "redriven", r.text
        assert sorted(await _steps(db, walk)) == [0, 1, 2]
        again = await c.post(f"/steps/admin/dead-letters/{dl}/redrive", headers=admin)
        assert again.status_code == 409
        assert (await c.get("/steps/admin/dead-letters", headers=admin)).json()["items"] == []
        # The same message dead-lettered twice is one dead letter.
        faulty.poison = {7}
        env = await testing.deliver(app, StepTaken(walk=walk, n=7))
        await testing.redeliver(app, env, TOPIC)
        assert await _count(db, DeadLetter) == 2
        status = (await c.get("/steps/admin/outbox", headers=admin)).json()
        assert status["unsent"] == 0 and status["failing"] == []


async def test_copies_of_a_dead_message_are_one_dead_letter_with_a_count(db_url: str) -> None:
    """The same content sent again under new event ids (a request asked
    again while unanswered) is counted on the dead letter already kept, which
    takes the latest copy; other content is a dead letter of its own; once
    re-driven, a later copy starts a new one."""
    faulty = Faulty()
    faulty.poison = {1, 2}
    transport = LocalTransport()
    app = _steps_app(db_url, faulty, transport)
    admin = testing.auth("admin")
    async with testing.running(app) as c:
        db: Database = app.state.runtime.db
        async with db.engine.begin() as conn:
            await conn.run_sync(StepsBase.metadata.create_all)
        walk = uuid.uuid4().hex[:6]
        copies = [await testing.deliver(app, StepTaken(walk=walk, n=1)) for _ in range(3)]
        await testing.redeliver(app, copies[-1], TOPIC)  # the very same message: not a copy
        await testing.deliver(app, StepTaken(walk=walk, n=2))
        listed = (await c.get("/steps/admin/dead-letters", headers=admin)).json()["items"]
        assert [d["occurrences"] for d in listed] == [1, 3]  # newest first: n=2, then n=1
        one = listed[1]
        assert one["message_id"] == copies[-1].id  # the latest copy is the one kept
        assert one["attempts"] == 6 and one["last_seen_at"] >= one["created_at"]
        assert await _count(db, DeadLetter) == 2

        faulty.poison = {2}  # n=1 can be applied now
        r = await c.post(f"/steps/admin/dead-letters/{one['id']}/redrive", headers=admin)
        assert r.status_code == 200 and r.json()["status"] == "redriven", r.text
        assert r.json()["occurrences"] == 3
        assert await _steps(db, walk) == [1]  # one application for the three copies
        faulty.poison = {1, 2}
        await testing.deliver(app, StepTaken(walk=walk, n=1))
        listed = (await c.get("/steps/admin/dead-letters", headers=admin)).json()["items"]
        assert [d["occurrences"] for d in listed] == [1, 1]
        assert listed[0]["id"] not in (one["id"], listed[1]["id"])


async def test_a_redrive_that_applies_nothing_leaves_the_dead_letter_dead(db_url: str) -> None:
    """A dead letter whose stored copy reads as a type the service does not
    handle (its type header was not UTF-8; or its handler is gone) is
    skipped when re-driven: nothing is applied, so it must stay dead with
    that reason, not be reported re-driven."""
    transport = LocalTransport()
    app = _steps_app(db_url, Faulty(), transport)
    admin = testing.auth("admin")
    async with testing.running(app) as c:
        consumer = app.state.runtime.consumer
        await consumer.process(
            Message(
                topic=TOPIC,
                key="k",
                value=b'{"walk": "w", "n": 1}',
                headers=[
                    ("ce_id", b"type-not-utf8"),
                    ("ce_source", b"urn:elsewhere"),
                    ("ce_specversion", b"1.0"),
                    ("ce_type", b"test.step_taken.\xff"),
                ],
            )
        )
        (dl,) = (await c.get("/steps/admin/dead-letters", headers=admin)).json()["items"]
        assert "UnicodeDecodeError" in dl["error"]
        # Listed so an operator can read it: not as U+FFFD, the byte kept.
        assert dl["event_type"] == "（无法解码） test.step_taken.\\xff"
        r = await c.post(f"/steps/admin/dead-letters/{dl['id']}/redrive", headers=admin)
        assert r.status_code == 200 and r.json()["status"] == "dead", r.text
        assert "no handler" in r.json()["error"]
        listed = (await c.get("/steps/admin/dead-letters", headers=admin)).json()["items"]
        assert [d["id"] for d in listed] == [dl["id"]]


# --- real PostgreSQL behind a proxy that the test cuts --------------------------------

notes = APIRouter()


@notes.post("/steps/notes/{text}", status_code=201)
async def add_note(
    text: str, principal: Principal = Depends(require("admin")), db: Database = Depends(get_db)
) -> dict[str, str]:
    async with db.transaction() as s:
        record_audit(s, principal, "note.add", "note", text)
    return {"text": text}


@pytest.mark.pg
async def test_database_outage_is_503_never_500_and_nothing_half_written(tmp_path: Path) -> None:
    async with testing.database_url("pg", tmp_path) as url:
        proxy = await testing.proxy_for(url)
        spec = ServiceSpec(
            name="steps-svc",
            prefix="/steps",
            title="steps",
            description="steps",
            migrations_dir=QUOTA_MIGRATIONS,
            routers=[notes],
        )
        app = create_app(
            spec, ServiceSettings(database_url=testing.via_proxy(url, proxy), log_json=False)
        )
        admin = testing.auth("admin")
        try:
            async with testing.running(app) as c:
                assert (await c.post("/steps/notes/before", headers=admin)).status_code == 201
                proxy.cut()
                statuses = []
                for path in ("/steps/audit", "/steps/admin/outbox"):
                    r = await c.get(path, headers=admin)
                    statuses.append(r.status_code)
                    assert r.headers.get("retry-after"), path
                    assert r.headers["content-type"].startswith("application/problem+json")
                r = await c.post("/steps/notes/during", headers={**admin, "Idempotency-Key": "n-1"})
                statuses.append(r.status_code)
                assert statuses == [503, 503, 503], statuses
                # The write's 503 is a problem like any other, with Retry-After.
                assert r.headers.get("retry-after")
                assert r.json()["instance"] == "/steps/notes/during"
                assert (await c.get("/steps/ready")).status_code == 503
                proxy.restore()
                await asyncio.sleep(0.2)
                r = await c.post("/steps/notes/during", headers={**admin, "Idempotency-Key": "n-1"})
                assert r.status_code == 201 and "idempotent-replayed" not in r.headers
                items = (await c.get("/steps/audit", headers=admin)).json()["items"]
                assert sorted(i["target_id"] for i in items) == ["before", "during"]
        finally:
            await proxy.stop()


async def _accept_connections(database: str, accept: bool) -> None:
    conn = await asyncpg.connect(testing.pg_admin_url())
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(accept).lower()}')
        if not accept:
            # Each backend gone before this returns (waiting up to a minute
            # for each): a signalled backend a loaded machine has not yet
            # run would still answer the next request.
            await conn.execute(
                "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
    finally:
        await conn.close()


@pytest.mark.pg
async def test_a_database_refusing_connections_is_503_and_events_wait(tmp_path: Path) -> None:
    """PostgreSQL refuses a connection with an SQLSTATE that is no connection
    error (55000: the database does not accept connections, as during a
    restore): requests get 503 with Retry-After, not 500, on the session
    and the driver's paths alike, and an event waits (TransientFailure)
    instead of counting attempts towards a dead letter."""
    faulty = Faulty()
    async with testing.database_url("pg", tmp_path) as url:
        app = _steps_app(url, faulty, LocalTransport())
        database = url.rsplit("/", 1)[1]
        admin = testing.auth("admin")
        async with testing.running(app) as c:
            db: Database = app.state.runtime.db
            async with db.engine.begin() as conn:
                await conn.run_sync(StepsBase.metadata.create_all)
            walk = uuid.uuid4().hex[:6]
            await _accept_connections(database, False)
            try:
                for path in ("/steps/admin/dead-letters", "/steps/admin/outbox"):
                    r = await c.get(path, headers=admin)
                    assert r.status_code == 503, (path, r.text)
                    assert r.headers.get("retry-after"), path
                with pytest.raises(DatabaseUnreachable):
                    async with db.driver() as raw:
                        await raw.fetchval("SELECT 1")
                with pytest.raises(TransientFailure):
                    await testing.deliver(app, StepTaken(walk=walk, n=0))
                assert faulty.calls == 0
            finally:
                await _accept_connections(database, True)
            await testing.deliver(app, StepTaken(walk=walk, n=0))
            assert await _steps(db, walk) == [0]
            assert await _count(db, DeadLetter) == 0


@pytest.mark.pg
@pytest.mark.kafka
async def test_consumer_database_outage_pauses_and_resumes_in_order(tmp_path: Path) -> None:
    from svc_common.transports.kafka import KafkaTransport

    async with (
        testing.database_url("pg", tmp_path, "walker") as producer_url,
        testing.database_url("pg", tmp_path, "counter") as consumer_url,
    ):
        producer, direct = await _open(producer_url), await _open(consumer_url)
        proxy = await testing.proxy_for(consumer_url)
        consumer_db = Database(testing.via_proxy(consumer_url, proxy))
        bootstrap = testing.kafka_bootstrap()
        out = KafkaTransport(bootstrap, client_id="walker")
        inn = KafkaTransport(bootstrap, client_id="counter")
        await out.ensure_topics([TOPIC])
        faulty = Faulty()
        consumer = InboxConsumer(
            consumer_db, inn, faulty.handlers(), group=f"c-{uuid.uuid4().hex[:6]}"
        )
        consumer.subscribe()
        await inn.start()
        relay = OutboxRelay(producer, out, service="walker", sweep_seconds=0.3)
        relay.start()
        walk = uuid.uuid4().hex[:6]
        try:
            proxy.cut()
            async with producer.transaction() as s:
                for n in range(6):
                    emit(s, StepTaken(walk=walk, n=n))
            await asyncio.sleep(4)  # several failed tries against the cut database
            # A loaded machine may take longer to join the group and fetch:
            # until the partition is retrying (the assertion below says so).
            await testing.until(inn.retrying, seconds=60)
            assert faulty.calls == 0  # it never got as far as the handler
            assert inn.retrying(), "the partition should be paused, retrying"
            assert await _steps(direct, walk) == []
            proxy.restore()
            deadline = asyncio.get_running_loop().time() + 60
            while await _steps(direct, walk) != list(range(6)):
                assert asyncio.get_running_loop().time() < deadline, await _steps(direct, walk)
                await asyncio.sleep(0.3)
            await asyncio.sleep(1)
            assert await _steps(direct, walk) == list(range(6))  # once each, in order
            assert await _count(direct, DeadLetter) == 0
            assert inn.retrying() == {}
        finally:
            await relay.stop()
            await inn.stop()
            await out.stop()
            await proxy.stop()
            for db in (producer, direct, consumer_db):
                await db.dispose()


# --- a crash between commit and answer ------------------------------------------------


def _start_quota(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "quota_svc"],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(200):
            assert proc.poll() is None, "quota-svc exited"
            try:
                if (await c.get(f"{base}/quota/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("quota-svc did not start")


async def test_crash_between_commit_and_answer_replays_the_answer(tmp_path: Path) -> None:
    port = testing.free_port()
    base = f"http://127.0.0.1:{port}"
    path = "/quota/pools/120119/VOCs/baseline"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/quota.db",
        "PORT": str(port),
        "LOG_JSON": "true",
        "FAULT_CRASH_AFTER_COMMIT": path,
        "FAULT_MARKER": str(tmp_path / "crashed"),
    }
    h = {**testing.auth("admin", sub="admin.zhang"), "Idempotency-Key": "baseline-2026"}
    proc = _start_quota(env, tmp_path / "quota.log")
    try:
        await _wait_up(base, proc)
        async with httpx.AsyncClient(base_url=base) as c:
            with pytest.raises(httpx.HTTPError):
                await c.post(path, json={"amount_t": "10"}, headers=h)
            assert proc.wait(timeout=10) == 137  # died after the commit, before answering
            proc = _start_quota(env, tmp_path / "quota.log")
            await _wait_up(base, proc)
            r = await c.post(path, json={"amount_t": "10"}, headers=h)
            assert r.status_code == 201 and r.headers.get("idempotent-replayed") == "true"
            journal = (await c.get("/quota/journal", headers=h)).json()["items"]
            assert [e["amount_t"] for e in journal] == ["10.000"]  # applied once
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
