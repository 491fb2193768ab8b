"""Publishing through a broker restart, against a real broker: every send's
outcome is read by us, none is left to asyncio to print ("Future exception
was never retrieved ... LeaderNotAvailableError") and none is delivered
after the caller was told it was not.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import uuid
import weakref
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from structlog.testing import capture_logs
from svc_common import testing
from svc_common.events.envelope import Message
from svc_common.transports.kafka import KafkaTransport

pytestmark = [pytest.mark.kafka]


def _kafka_ctl(action: str) -> None:
    ctl = os.environ.get("KAFKA_CTL")
    if not ctl:
        testing._missing("KAFKA_CTL")
    assert ctl
    subprocess.run([ctl, action], check=True, capture_output=True, timeout=180)


async def _records(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def _kafka_leftovers(contexts: list[dict[str, Any]]) -> list[str]:
    """What asyncio reported about Kafka futures and tasks no one looked after."""
    return [
        f"{c.get('message')}: {c.get('exception')!r} {c.get('future') or c.get('task')!r}"[:400]
        for c in contexts
        if "kafka" in repr(c).lower()
    ]


async def test_a_broker_restart_leaves_no_send_unread_or_delivered_behind_the_callers_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bootstrap = testing.kafka_bootstrap()
    topic = f"restart-{uuid.uuid4().hex[:8]}.events"
    loop = asyncio.get_running_loop()
    gc.collect()  # what earlier tests left is not this test's
    contexts: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))

    # The futures the producer hands back, held weakly: a strong reference
    # here would keep asyncio from ever reporting one as never retrieved.
    handed: list[weakref.ref[asyncio.Future[Any]]] = []
    send = AIOKafkaProducer.send

    async def recording_send(self: AIOKafkaProducer, *args: Any, **kwargs: Any) -> Any:
        fut = await send(self, *args, **kwargs)
        handed.append(weakref.ref(fut))
        return fut

    monkeypatch.setattr(AIOKafkaProducer, "send", recording_send)
    transport = KafkaTransport(bootstrap, client_id="restart-test")
    default_delivery_timeout = transport.delivery_timeout
    try:
        await transport.ensure_topics([topic])

        def batch(tag: str) -> list[Message]:
            return [Message(topic=topic, key=f"k{i}", value=tag.encode()) for i in range(3)]

        assert await transport.publish_batch(batch("before")) == [None] * 3

        await asyncio.to_thread(_kafka_ctl, "stop")
        try:
            # The broker is gone before these are sent: none can be written.
            # A short wait, so the producer is given up on (and rebuilt)
            # within the outage.
            transport.delivery_timeout = 2.0
            handed.clear()
            with capture_logs() as logs:
                during = await transport.publish_batch(batch("during"))
            assert all(r is not None for r in during), during
            # Reported failed, so finished: not left with a producer that
            # would deliver it later (the relay sends it again) or fail it
            # into a future no one reads.
            unfinished = sum(1 for r in handed if (f := r()) is not None and not f.done())
            discarded = [e for e in logs if e["event"].startswith("Kafka producer did not flush")]
        finally:
            transport.delivery_timeout = default_delivery_timeout
            await asyncio.to_thread(_kafka_ctl, "start")

        after: list[BaseException | None] = []
        deadline = loop.time() + 120
        while loop.time() < deadline:
            after = await transport.publish_batch(batch("after"))
            if after == [None] * 3:
                break
            await asyncio.sleep(0.5)
        assert after == [None] * 3, after
        # Time for a producer left behind to deliver what it held.
        await asyncio.sleep(3)
        written = await _records(bootstrap, topic, transport.partitions)
    finally:
        await transport.stop()
        handed.clear()
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.1)
        loop.set_exception_handler(previous_handler)

    problems = _kafka_leftovers(contexts)
    if unfinished:
        problems.append(f"{unfinished} sends reported failed were still held by a producer")
    if written != 6:
        problems.append(f"{written} records, 6 acknowledged: a failed send was delivered later")
    if not discarded or discarded[0]["messages"] != 3:
        problems.append(f"the discarded producer's messages were not logged: {discarded}")
    assert problems == [], "\n".join(problems)
