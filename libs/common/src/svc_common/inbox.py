"""Idempotent consumers: the inbox, handler registration and dead-lettering.

For each message: the (consumer group, event id) row is inserted in the same
transaction as the handler's effect. A primary-key clash (ON CONFLICT DO
NOTHING inserting no row) means the event was already applied: nothing is done
again. A concurrent duplicate waits on the key and then finds it taken. Only
after this transaction commits does the transport treat the message as
consumed. A handler that fails `max_attempts` times sends the message to
`<topic>.dlq` with the error in its headers, and consumption goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from svc_common import context
from svc_common.db import Database
from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import EventPayload, registry
from svc_common.tables import InboxRow
from svc_common.transports.base import DLQ_SUFFIX, Transport
from svc_common.types import utcnow

log = structlog.get_logger(__name__)

APPLIED = Counter("events_applied_total", "Events applied by a handler", ["group", "type"])
DUPLICATES = Counter("events_duplicate_total", "Redelivered events skipped by the inbox", ["group"])
DEAD_LETTERED = Counter("events_dead_lettered_total", "Events sent to a .dlq topic", ["group"])

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
H = TypeVar("H", bound=Handler)


class EventHandlers:
    """What a service handles: `@handlers.on(FilingAccepted)` on an async
    function `(session, payload, envelope)`."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, *payload_types: type[EventPayload]) -> Callable[[H], H]:
        def decorate(fn: H) -> H:
            for t in payload_types:
                self._by_type[t.event_type] = fn
            return fn

        return decorate

    def get(self, event_type: str) -> Handler | None:
        return self._by_type.get(event_type)

    @property
    def topics(self) -> list[str]:
        topics = set()
        for event_type in self._by_type:
            model = registry.model_for(event_type)
            if model is not None:
                topics.add(model.topic)
        return sorted(topics)


async def record_in_inbox(s: AsyncSession, group: str, env: Envelope, topic: str) -> bool:
    """Insert the inbox row; False if this group already applied the event."""
    values = {
        "consumer_group": group,
        "event_id": env.id,
        "event_type": env.type,
        "source_topic": topic,
        "processed_at": utcnow(),
    }
    dialect = s.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(InboxRow)
    result = await s.execute(ins.values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


class InboxConsumer:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        handlers: EventHandlers,
        *,
        group: str,
        max_attempts: int = 3,
        backoff_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.transport = transport
        self.handlers = handlers
        self.group = group
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds

    def subscribe(self) -> None:
        if self.handlers.topics:
            self.transport.subscribe(self.group, self.handlers.topics, self.process)

    async def process(self, msg: Message) -> None:
        try:
            env = Envelope.from_message(msg)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(msg, exc, attempts=0)
            return
        handler = self.handlers.get(env.type)
        if handler is None:
            return  # another consumer's event on a topic we read
        model = registry.model_for(env.type)
        try:
            payload = model.model_validate(env.data) if model else env.data
        except ValidationError as exc:
            await self._dead_letter(msg, exc, attempts=0)
            return
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._apply(env, payload, handler, msg.topic)
                return
            except Exception as exc:
                last = exc
                log.warning(
                    "handler failed",
                    group=self.group,
                    type=env.type,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(self.backoff_seconds * attempt)
        assert last is not None
        await self._dead_letter(msg, last, attempts=self.max_attempts)

    async def _apply(self, env: Envelope, payload: Any, handler: Handler, topic: str) -> None:
        ctx = context.TraceContext(
            correlation_id=env.correlationid,
            causation_id=env.id,
            traceparent=context.new_traceparent(env.traceparent),
        )
        with context.use(ctx):
            async with self.db.transaction() as s:
                if not await record_in_inbox(s, self.group, env, topic):
                    DUPLICATES.labels(self.group).inc()
                    return
                await handler(s, payload, env)
        APPLIED.labels(self.group, env.type).inc()

    async def _dead_letter(self, msg: Message, exc: BaseException, *, attempts: int) -> None:
        DEAD_LETTERED.labels(self.group).inc()
        log.error("dead-lettering message", group=self.group, topic=msg.topic, error=repr(exc))
        headers = [
            *msg.headers,
            ("dlq_error", repr(exc)[:4000].encode()),
            ("dlq_group", self.group.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_original_topic", msg.topic.encode()),
            ("dlq_original_partition", str(msg.partition).encode()),
            ("dlq_original_offset", str(msg.offset).encode()),
        ]
        dlq = Message(topic=msg.topic + DLQ_SUFFIX, key=msg.key, value=msg.value, headers=headers)
        (result,) = await self.transport.publish_batch([dlq])
        if result is not None:
            raise RuntimeError("could not dead-letter message") from result
