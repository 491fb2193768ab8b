"""What operators see (svc_common.metrics): each service's /metrics shows its
own series only; the outbox backlog is counted in the table (the same on
every replica); periodic figures never make a scrape wait and say how old
they are; pool use; consumer lag per partition from a real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, text
from svc_common import metrics, testing
from svc_common.db import Database
from svc_common.events.envelope import Message
from svc_common.service import Runtime, ServiceSpec, create_app
from svc_common.settings import ServiceSettings
from svc_common.tables import DeadLetter, OutboxRow
from svc_common.transports.kafka import KafkaTransport
from svc_common.types import utcnow

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(c: httpx.AsyncClient, path: str) -> Samples:
    r = await c.get(path)
    assert r.status_code == 200
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def app_named(name: str, url: str, **settings: Any) -> FastAPI:
    spec = ServiceSpec(
        name=name,
        prefix=f"/{name}",
        title=name,
        description=name,
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[],
        gauges=settings.pop("gauges", []),
    )
    return create_app(spec, ServiceSettings(database_url=url, log_json=False, **settings))


async def test_each_service_metrics_show_only_its_own_series(tmp_path: Path) -> None:
    a, b = f"alpha-{uuid.uuid4().hex[:6]}", f"beta-{uuid.uuid4().hex[:6]}"
    app_a = app_named(a, f"sqlite+aiosqlite:///{tmp_path}/a.db")
    app_b = app_named(b, f"sqlite+aiosqlite:///{tmp_path}/b.db")
    async with testing.running(app_a) as ca, testing.running(app_b) as cb:
        for app in (app_a, app_b):
            await app.state.metrics_refresher.refresh()
        await ca.get(f"/{a}/health")
        await cb.get(f"/{b}/health")
        for client, own, other in ((ca, a, b), (cb, b, a)):
            for path in (f"/{own}/metrics", "/metrics"):
                text = (await client.get(path)).text
                samples = parse(text)
                services = {dict(labels).get("service") for _n, labels in samples} - {None}
                assert services == {own}, (path, services)
                assert other not in text
                # Its own figures are all there, the process's too.
                assert value(samples, "outbox_backlog_rows", service=own) == 0
                assert any(name == "process_cpu_seconds_total" for name, _ in samples) or any(
                    name.startswith("python_") for name, _ in samples
                )
                assert ("http_requests_total", frozenset()) not in samples


async def test_outbox_backlog_and_oldest_age_are_counted_in_the_table(db_url: str) -> None:
    """On PostgreSQL two replicas of a service share the database: both see
    the whole backlog, not what their own relay happens to hold. (SQLite is
    the embedded default's: one process, one replica.)"""
    names = [
        f"replica-{i}-{uuid.uuid4().hex[:6]}" for i in range(2 if "postgresql" in db_url else 1)
    ]
    apps = [app_named(n, db_url, run_migrations=i == 0) for i, n in enumerate(names)]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(testing.running(app)) for app in apps]
        rt: Runtime = apps[0].state.runtime
        created = utcnow() - dt.timedelta(seconds=120)
        later = utcnow() + dt.timedelta(hours=1)  # the relays leave them alone
        async with rt.db.transaction() as s:
            await s.execute(
                insert(OutboxRow),
                [
                    {
                        "event_id": uuid.uuid4().hex,
                        "topic": "demo.events",
                        "key": f"k{i}",
                        "event_type": "demo.v1",
                        "envelope": {},
                        "created_at": created + dt.timedelta(seconds=i),
                        "attempts": 1 if i < 2 else 0,
                        "next_attempt_at": later,
                    }
                    for i in range(5)
                ],
            )
        for app, name, client in zip(apps, names, clients, strict=True):
            await app.state.metrics_refresher.refresh()
            samples = await scrape(client, f"/{name}/metrics")
            assert value(samples, "outbox_backlog_rows", service=name) == 5
            assert value(samples, "outbox_retrying_rows", service=name) == 2
            age = value(samples, "outbox_oldest_unsent_age_seconds", service=name)
            assert 119 <= age < 180, age
            refreshed = value(
                samples, "metrics_refresh_age_seconds", service=name, collector="outbox_figures"
            )
            assert 0 <= refreshed < 5


async def test_dead_letters_by_topic_and_type(db_url: str) -> None:
    name = f"dlq-{uuid.uuid4().hex[:6]}"
    app = app_named(name, db_url)
    async with testing.running(app) as c:
        rt: Runtime = app.state.runtime
        old = utcnow() - dt.timedelta(minutes=30)

        def letter(i: int, topic: str, etype: str | None, status: str = "dead") -> dict[str, Any]:
            return {
                "consumer_group": name,
                "message_id": f"m{i}",
                "topic": topic,
                "partition": 0,
                "offset": i,
                "key": "k",
                "event_type": etype,
                "headers": [],
                "value": "{}",
                "error": "ValueError()",
                "attempts": 3,
                "created_at": old + dt.timedelta(minutes=i),
                "status": status,
            }

        async with rt.db.transaction() as s:
            await s.execute(
                insert(DeadLetter),
                [
                    letter(0, "eia.events", "eia.filing.accepted.v1"),
                    letter(1, "eia.events", "eia.filing.accepted.v1"),
                    letter(2, "permit.events", None),
                    letter(3, "eia.events", "eia.filing.approved.v1", status="redriven"),
                ],
            )
        samples = await testing.figures(app, c)
        dead = {
            (dict(labels)["topic"], dict(labels)["type"]): v
            for (n, labels), v in samples.items()
            if n == "dead_letters"
        }
        assert dead == {
            ("eia.events", "eia.filing.accepted.v1"): 2,
            ("permit.events", "unreadable"): 1,
        }
        age = value(samples, "dead_letters_oldest_age_seconds", service=name)
        assert 30 * 60 <= age < 32 * 60

        # Re-driven or discarded, a dead letter stops being reported.
        async with rt.db.transaction() as s:
            await s.execute(text("UPDATE dead_letters SET status = 'discarded'"))
        samples = await testing.figures(app, c)
        assert not [n for n, _ in samples if n == "dead_letters"]
        assert value(samples, "dead_letters_oldest_age_seconds", service=name) == 0


async def test_a_stuck_collector_neither_blocks_a_scrape_nor_loses_the_last_value(
    tmp_path: Path,
) -> None:
    name = f"stuck-{uuid.uuid4().hex[:6]}"
    gauge = metrics.Family(f"demo_figure_{uuid.uuid4().hex[:6]}", "a demo figure")
    calls = 0

    async def demo_figure(rt: Runtime) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            gauge.set(rt.service, 42)
            return
        if calls == 2:
            raise ConnectionRefusedError("database down")
        await asyncio.sleep(3600)  # a query that never answers

    app = app_named(
        name,
        f"sqlite+aiosqlite:///{tmp_path}/s.db",
        gauges=[demo_figure],
        metrics_refresh_seconds=1,
    )
    async with testing.running(app) as c:
        refresher = app.state.metrics_refresher
        await refresher.refresh()  # the lifespan's first pass may still be running
        deadline = time.monotonic() + 10
        while calls < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # The third refresh hangs in the collector: a scrape answers at once.
        started = time.perf_counter()
        samples = await scrape(c, f"/{name}/metrics")
        assert time.perf_counter() - started < 0.5
        assert value(samples, gauge.gauge._name, service=name) == 42
        failures = (
            "metrics_refresh_failures_total",
            frozenset({("service", name), ("collector", "demo_figure")}),
        )
        assert samples[failures] >= 1
        # The hang is cut off by the refresh timeout and counted too.
        before = samples[failures]
        deadline = time.monotonic() + 10
        while (await scrape(c, f"/{name}/metrics"))[failures] <= before:
            assert time.monotonic() < deadline, "the stuck refresh was never timed out"
            await asyncio.sleep(0.1)
        samples = await scrape(c, f"/{name}/metrics")
        age = value(samples, "metrics_refresh_age_seconds", service=name, collector="demo_figure")
        assert age >= 1, "the age of the last good value grows while refreshes fail"


async def test_database_up_says_whether_the_database_answers(tmp_path: Path) -> None:
    name = f"db-{uuid.uuid4().hex[:6]}"
    up = Database(f"sqlite+aiosqlite:///{tmp_path}/up.db")
    down = Database("postgresql+asyncpg://nobody@127.0.0.1:9/nothing")  # nothing listens
    try:
        for db, expected in ((up, 1), (down, 0)):
            await metrics.database_figures(SimpleNamespace(db=db, service=name))  # type: ignore[arg-type]
            samples = parse(generate_latest(metrics.ServiceView(name)).decode())
            assert value(samples, "database_up", service=name) == expected
    finally:
        metrics.DATABASE_UP.clear(name)
        await up.dispose()
        await down.dispose()


async def test_pool_use_is_reported(db_url: str) -> None:
    name = f"pool-{uuid.uuid4().hex[:6]}"
    app = app_named(name, db_url)
    async with testing.running(app) as c:
        rt: Runtime = app.state.runtime
        async with rt.db.session() as s, rt.db.session() as s2:
            await s.execute(text("SELECT 1"))
            await s2.execute(text("SELECT 1"))
            samples = await scrape(c, f"/{name}/metrics")
            during = value(samples, "db_pool_connections", service=name, state="in_use")
            assert during >= 2
            assert value(samples, "db_pool_capacity", service=name) >= during
        # The relay may hold one of its own at any moment, in either scrape:
        # the two sessions given back show as at least one fewer in use.
        samples = await scrape(c, f"/{name}/metrics")
        assert value(samples, "db_pool_connections", service=name, state="in_use") <= during - 1


@pytest.mark.kafka
async def test_consumer_lag_per_partition_on_kafka() -> None:
    """Lag is the broker's end offset minus the group's committed offset, per
    assigned partition: it counts what waits behind a stuck handler."""
    topic = f"lag-{uuid.uuid4().hex[:8]}.events"
    group = f"lag-svc-{uuid.uuid4().hex[:6]}"
    tr = KafkaTransport(testing.kafka_bootstrap(), client_id=group, partitions=2)
    gate = asyncio.Event()
    handled: list[Message] = []

    async def process(msg: Message) -> None:
        await gate.wait()
        handled.append(msg)

    await tr.ensure_topics([topic])
    tr.subscribe(group, [topic], process)
    await tr.start()
    rt: Any = SimpleNamespace(transport=tr, service=group, settings=SimpleNamespace(is_kafka=True))
    try:
        results = await tr.publish_batch(
            [Message(topic=topic, key=f"k{i}", value=b"{}") for i in range(10)]
        )
        assert results == [None] * 10

        async def total() -> int:
            return sum((await tr.consumer_lag()).values())

        deadline = time.monotonic() + 60
        while await total() != 10:
            assert time.monotonic() < deadline, await tr.consumer_lag()
            await asyncio.sleep(0.3)
        await metrics.consumer_figures(rt)
        samples = parse(generate_latest(metrics.ServiceView(group)).decode())
        lags = {
            dict(labels)["partition"]: v
            for (n, labels), v in samples.items()
            if n == "events_consumer_lag_messages"
        }
        assert set(lags) == {"0", "1"} and sum(lags.values()) == 10
        assert value(samples, "events_consumer_assigned_partitions", service=group) == 2

        gate.set()
        while await total() != 0:
            assert time.monotonic() < deadline, await tr.consumer_lag()
            await asyncio.sleep(0.3)
        assert len(handled) == 10
        await metrics.consumer_figures(rt)
        samples = parse(generate_latest(metrics.ServiceView(group)).decode())
        assert (
            value(
                samples, "events_consumer_lag_messages", service=group, topic=topic, partition="0"
            )
            == 0
        )
    finally:
        gate.set()
        await tr.stop()
        metrics.CONSUMER_LAG.clear(group)
        metrics.CONSUMER_PARTITIONS.clear(group)
