"""A relay pass's messages leave in one produce request, in order."""

from __future__ import annotations

import asyncio

from svc_common.events.envelope import Message
from svc_common.transports.kafka import KafkaTransport


class BatchingProducer:
    """Behaves as aiokafka's producer does with cached metadata: `send`
    appends to a batch without yielding and wakes the sender, which ships
    everything appended so far as one request when the loop next runs it."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self._batch: list[tuple[str, asyncio.Future[None]]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, topic: str, *, key: bytes | None, **_: object) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._ship)
        self._batch.append(((key or b"").decode(), fut))
        return fut

    def _ship(self) -> None:
        batch, self._batch = self._batch, []
        self.requests.append([k for k, _ in batch])
        for _, fut in batch:
            fut.set_result(None)


async def test_a_pass_is_one_produce_request(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    producer = BatchingProducer()
    monkeypatch.setattr(KafkaTransport, "_new_producer", lambda self: producer)
    t = KafkaTransport("127.0.0.1:1", client_id="t", publish_timeout=1.0)
    messages = [Message(topic="x.events", key=f"k{i}", value=b"{}") for i in range(3)]

    assert await t.publish_batch(messages) == [None, None, None]
    # One round trip to the broker for the pass, not one per message.
    assert producer.requests == [["k0", "k1", "k2"]]
