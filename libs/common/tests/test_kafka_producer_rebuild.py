"""A producer wedged by a broker outage is thrown away and rebuilt."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from svc_common.events.envelope import Message
from svc_common.transports import kafka as kafka_transport
from svc_common.transports.kafka import KafkaTransport


class WedgedProducer:
    """Starts, then never answers a send: what a producer can look like after
    its broker went away mid-request."""

    instances: ClassVar[list[WedgedProducer]] = []

    def __init__(self, healthy: bool) -> None:
        self.healthy = healthy
        self.stopped = False
        WedgedProducer.instances.append(self)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, **_: object) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.healthy:
            fut.set_result(None)
        return fut  # a wedged producer's future never completes


async def test_wedged_producer_is_rebuilt_and_publishing_resumes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    WedgedProducer.instances.clear()
    healthy_from = 2  # the first two producers are wedged
    monkeypatch.setattr(
        KafkaTransport,
        "_new_producer",
        lambda self: WedgedProducer(healthy=len(WedgedProducer.instances) >= healthy_from),
    )
    monkeypatch.setattr(kafka_transport, "REBUILD_AFTER_FAILURES", 2)
    t = KafkaTransport("127.0.0.1:1", client_id="t", publish_timeout=0.2)
    # A handed-over send is waited for this long before it counts as failed
    # (20 s in service: twice the producer's request timeout): the same
    # path, without 40 s of waiting on futures that never complete.
    t.delivery_timeout = 0.2
    msg = Message(topic="x.events", key="k", value=b"{}")

    results = [await t.publish_batch([msg]) for _ in range(2)]
    assert all(isinstance(r[0], TimeoutError) for r in results)
    first = WedgedProducer.instances[0]
    assert first.stopped, "the wedged producer was not thrown away"
    # The next producer is built on demand; it is wedged too, then rebuilt again.
    for _ in range(2):
        await t.publish_batch([msg])
    assert await t.publish_batch([msg]) == [None]
    assert len(WedgedProducer.instances) == 3


async def test_the_producer_starts_outside_the_request_that_first_needs_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Its background tasks (and their log lines) must not carry the ids of
    whichever request happened to start it."""
    from svc_common import context

    seen: list[context.TraceContext] = []

    class Recording(WedgedProducer):
        async def start(self) -> None:
            seen.append(context.current())

    monkeypatch.setattr(KafkaTransport, "_new_producer", lambda self: Recording(healthy=True))
    t = KafkaTransport("127.0.0.1:1", client_id="t", publish_timeout=0.2)
    context.bind(context.TraceContext(request_id="req-1", correlation_id="corr-1"))
    assert await t.publish_batch([Message(topic="x.events", key="k", value=b"{}")]) == [None]
    assert seen == [context.TraceContext()]
    assert context.current().request_id == "req-1"  # the caller's own context is untouched


async def test_sends_of_a_cancelled_publish_are_read_and_logged_when_they_end(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The relay stopping mid-publish leaves the producer to deliver or fail
    what it was handed: that outcome is read and logged, not left to asyncio
    to print as "Future exception was never retrieved"."""
    import gc

    from aiokafka.errors import LeaderNotAvailableError
    from structlog.testing import capture_logs

    WedgedProducer.instances.clear()
    monkeypatch.setattr(KafkaTransport, "_new_producer", lambda self: WedgedProducer(False))
    t = KafkaTransport("127.0.0.1:1", client_id="t")
    loop = asyncio.get_running_loop()
    gc.collect()
    contexts: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    try:
        with capture_logs() as logs:
            sent: list[asyncio.Future[None]] = []
            both_handed = asyncio.Event()
            send = WedgedProducer.send

            async def recording(
                self: WedgedProducer, topic: str, **kw: object
            ) -> asyncio.Future[None]:
                sent.append(await send(self, topic, **kw))
                if len(sent) == 2:
                    both_handed.set()
                return sent[-1]

            monkeypatch.setattr(WedgedProducer, "send", recording)
            msg = Message(topic="x.events", key="k", value=b"{}")
            publish = asyncio.create_task(t.publish_batch([msg, msg]))
            await both_handed.wait()
            publish.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publish
            # What the producer does with them afterwards.
            sent[0].set_result(None)
            sent[1].set_exception(LeaderNotAvailableError())
            sent.clear()
            del publish
            for _ in range(3):
                await asyncio.sleep(0)
                gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("message") for c in contexts] == []
    ended = [e for e in logs if e["event"] == "Kafka sends no longer waited for have ended"]
    assert len(ended) == 1, logs
    assert ended[0]["delivered"] == 1 and ended[0]["failed"] == 1
    assert "LeaderNotAvailableError" in ended[0]["error"]


async def test_a_failure_on_an_old_producer_leaves_the_new_one_alone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The relay and the dead-letter publish share the transport: when one
    caller's sends failed on a producer another caller has already thrown
    away, the producer now in use (with the other caller's sends in it) is
    not the one rebuilt."""
    monkeypatch.setattr(kafka_transport, "REBUILD_AFTER_FAILURES", 1)
    t = KafkaTransport("127.0.0.1:1", client_id="t", publish_timeout=0.2)
    old, current = WedgedProducer(healthy=False), WedgedProducer(healthy=True)
    t._producer = current  # type: ignore[assignment]
    await t._count_failure(old, all_failed=True)  # type: ignore[arg-type]
    assert t._producer is current and not current.stopped
    await t._count_failure(None, all_failed=True)  # no producer could be had
    assert t._producer is current and not current.stopped
    await t._count_failure(current, all_failed=True)  # type: ignore[arg-type]
    assert t._producer is None and current.stopped
