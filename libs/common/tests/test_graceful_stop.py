"""A replica stopped gracefully (SIGTERM, as a rolling deploy does): it
reports not ready while it still answers, finishes what it accepted, its
outbox relay ends its pass and its consumers commit what they applied."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select
from svc_common import testing
from svc_common.db import Database
from svc_common.events.envelope import Message
from svc_common.events.registry import EventPayload, event
from svc_common.outbox import emit
from svc_common.service import ServiceSpec, create_app
from svc_common.settings import ServiceSettings
from svc_common.tables import OutboxRow
from svc_common.transports.base import ProcessFn, Transport
from svc_common.transports.kafka import KafkaTransport

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"


@event("test.shutdown_ticked.v1", topic="shutdown-ticks.events", key="counter")
class Ticked(EventPayload):
    """A counter ticked (test event)."""

    counter: str
    n: int


# ------------------------------------------------------------ the served process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: A service app with one slow route, served as the services serve theirs.
SERVED = """
import asyncio, os, sys
from pathlib import Path
from fastapi import APIRouter
from svc_common.service import ServiceSpec, create_app, serve
from svc_common.settings import ServiceSettings

router = APIRouter()

@router.get("/demo/slow")
async def slow() -> dict[str, bool]:
    await asyncio.sleep(float(os.environ["SLOW_SECONDS"]))
    return {"done": True}

settings = ServiceSettings()
spec = ServiceSpec(name="demo-svc", prefix="/demo", title="demo", description="demo",
                   migrations_dir=Path(sys.argv[1]), routers=[router])
serve(create_app(spec, settings), settings)
"""


def test_sigterm_turns_ready_off_while_requests_are_still_answered(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = tmp_path / "served.py"
    script.write_text(SERVED)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "PORT": str(port),
        "LOG_JSON": "false",
        "SLOW_SECONDS": "2.5",
        "SHUTDOWN_DELAY_SECONDS": "2",
    }
    log = (tmp_path / "served.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(QUOTA_MIGRATIONS)], env=env, stdout=log, stderr=log
    )
    try:
        testing.wait_until_ready(proc, f"{base}/demo/ready", tmp_path / "served.log")

        slow: dict[str, Any] = {}

        def ask_slowly() -> None:
            try:
                r = httpx.get(f"{base}/demo/slow", timeout=30)
                slow["answer"] = (r.status_code, r.json())
            except httpx.HTTPError as exc:
                slow["answer"] = repr(exc)

        asker = threading.Thread(target=ask_slowly)
        asker.start()
        time.sleep(0.5)  # the slow request is in flight
        proc.send_signal(signal.SIGTERM)
        # The first answer of /ready other than 200 is a 503 saying why, not
        # a refused connection.
        seen = testing.first_not_ok(f"{base}/demo/ready")
        seen = (seen[0], seen[1].get("stopping")) if isinstance(seen, tuple) else seen
        assert seen == (503, True)
        # Still accepted and answered meanwhile (a balancer not yet told).
        assert httpx.get(f"{base}/demo/health", timeout=2).status_code == 200
        asker.join(timeout=30)
        assert slow["answer"] == (200, {"done": True})
        testing.stopped_gracefully(proc, f"{base}/demo/health", tmp_path / "served.log")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


# ------------------------------------------------------------ the outbox relay


class SlowAcks(Transport):
    """A broker that takes the messages at once and acknowledges them a
    second later: what it was handed is delivered, whoever waits."""

    def __init__(self) -> None:
        self.handed: list[Message] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ready(self) -> bool:
        return True

    def subscribe(self, group: str, topics: list[str], process: ProcessFn) -> None: ...

    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        self.handed.extend(messages)
        await asyncio.sleep(1.0)
        return [None] * len(messages)


async def test_stopping_the_app_lets_the_relay_mark_what_it_handed_over(tmp_path: Path) -> None:
    async with testing.database_url("sqlite", tmp_path) as url:
        spec = ServiceSpec(
            name="demo-svc",
            prefix="/demo",
            title="demo",
            description="demo",
            migrations_dir=QUOTA_MIGRATIONS,
            routers=[],
        )
        broker = SlowAcks()
        settings = ServiceSettings(database_url=url, log_json=False, outbox_sweep_seconds=60)
        app = create_app(spec, settings, transport=broker)
        async with testing.running(app):
            db: Database = app.state.db
            async with db.transaction() as s:
                emit(s, Ticked(counter="c", n=1))
            for _ in range(100):
                if broker.handed:
                    break
                await asyncio.sleep(0.02)
            assert broker.handed
        # The app stopped while the broker had the event and had not yet
        # acknowledged it: a row left unsent would be published again.
        db = Database(url)
        try:
            async with db.session() as s:
                rows = (await s.execute(select(OutboxRow))).scalars().all()
        finally:
            await db.dispose()
        assert [r.sent_at is not None for r in rows] == [True]


# ------------------------------------------------------------ the consumers


@pytest.mark.kafka
async def test_a_stopped_consumer_commits_every_message_it_applied() -> None:
    bootstrap = testing.kafka_bootstrap()
    topic = f"shutdown-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    tr = KafkaTransport(bootstrap, client_id="t-shutdown", partitions=1)
    await tr.ensure_topics([topic])
    sent = await tr.publish_batch(
        [Message(topic=topic, key="k", value=str(n).encode(), headers=[]) for n in range(40)]
    )
    assert sent == [None] * 40
    applied: list[int] = []

    async def apply(msg: Message) -> None:
        await asyncio.sleep(0.05)
        applied.append(int(msg.value))

    tr.subscribe(group, [topic], apply)
    await tr.start()
    try:
        for _ in range(600):
            if len(applied) >= 5:
                break
            await asyncio.sleep(0.05)
        assert len(applied) >= 5
    finally:
        # Mid-batch: the 40 messages came in one fetch.
        await tr.stop()
    assert 5 <= len(applied) < 40
    assert await _committed(bootstrap, group, topic) == len(applied)


@pytest.mark.kafka
async def test_stop_consuming_finishes_the_batch_in_hand_and_commits_it() -> None:
    bootstrap = testing.kafka_bootstrap()
    topic = f"shutdown-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    tr = KafkaTransport(bootstrap, client_id="t-shutdown", partitions=1)
    await tr.ensure_topics([topic])
    await tr.publish_batch(
        [Message(topic=topic, key="k", value=str(n).encode(), headers=[]) for n in range(20)]
    )
    applied: list[int] = []

    async def apply(msg: Message) -> None:
        await asyncio.sleep(0.05)
        applied.append(int(msg.value))

    tr.subscribe(group, [topic], apply)
    await tr.start()
    try:
        for _ in range(600):
            if applied:
                break
            await asyncio.sleep(0.02)
        await tr.stop_consuming(grace=10)
        assert applied == list(range(20))
    finally:
        await tr.stop()
    assert await _committed(bootstrap, group, topic) == 20


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="t-shutdown-admin")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None else 0


def test_sigterm_waits_out_the_delay_and_sigint_does_not() -> None:
    import uvicorn
    from fastapi import FastAPI
    from svc_common.graceful import DrainingServer, is_draining

    app = FastAPI()
    server = DrainingServer(uvicorn.Config(app), delay=3)
    server.handle_exit(signal.SIGTERM, None)
    assert is_draining(app) and not server.should_exit
    server.handle_exit(signal.SIGTERM, None)  # a second one: no more delay
    assert server.should_exit

    other = FastAPI()
    at_terminal = DrainingServer(uvicorn.Config(other), delay=3)
    at_terminal.handle_exit(signal.SIGINT, None)
    assert at_terminal.should_exit and not is_draining(other)
