"""In-process transport for the embedded default (all services in one process).

Delivery is synchronous: `publish_batch` returns once every subscribed group
has applied the message (committed, or dead-lettered), so the outbox marks a
row sent only after its effects are durable, and a crash republishes it from
the outbox; the inbox makes the redelivery harmless. Each group applies
messages one at a time, in publish order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import structlog

from svc_common.events.envelope import Message
from svc_common.transports.base import DLQ_SUFFIX, ProcessFn, Transport

log = structlog.get_logger(__name__)


class LocalTransport(Transport):
    def __init__(self) -> None:
        self._subs: dict[str, list[tuple[str, ProcessFn, asyncio.Lock]]] = defaultdict(list)
        # Closed until every service of the process has subscribed, so no event
        # is published before its consumers exist (see `hold`).
        self._open = asyncio.Event()
        self._open.set()
        self.dead_letters: list[Message] = []

    def hold(self) -> None:
        """Keep publishers waiting until `release` (used while several services start)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    def subscribe(self, group: str, topics: list[str], process: ProcessFn) -> None:
        lock = asyncio.Lock()
        for topic in topics:
            self._subs[topic].append((group, process, lock))

    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        await self._open.wait()
        results: list[BaseException | None] = []
        failed_keys: set[str | None] = set()
        for msg in messages:
            if msg.key in failed_keys:
                # A key's later events wait behind its failed one (order per key).
                results.append(RuntimeError("held back behind an earlier event of its key"))
                continue
            if msg.topic.endswith(DLQ_SUFFIX):
                self.dead_letters.append(msg)
                log.error(
                    "dead letter", topic=msg.topic, key=msg.key, error=msg.header("dlq_error")
                )
                results.append(None)
                continue
            try:
                for _group, process, lock in self._subs.get(msg.topic, []):
                    async with lock:
                        await process(msg)
                results.append(None)
            except Exception as exc:  # the row stays unsent and is retried
                failed_keys.add(msg.key)
                results.append(exc)
        return results
