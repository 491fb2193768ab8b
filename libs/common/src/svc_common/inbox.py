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
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter, Histogram
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from svc_common import context
from svc_common.db import Database
from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import EventPayload, registry
from svc_common.tables import InboxRow
from svc_common.tracing import Tracing
from svc_common.transports.base import DLQ_SUFFIX, Transport
from svc_common.types import utcnow

log = structlog.get_logger(__name__)

# The label is `service`: a consumer group is its service's name, and the
# embedded default's /<prefix>/metrics shows each service its own series.
APPLIED = Counter("events_applied_total", "Events applied by a handler", ["service", "type"])
DUPLICATES = Counter(
    "events_duplicate_total", "Redelivered events skipped by the inbox", ["service"]
)
DEAD_LETTERED = Counter("events_dead_lettered_total", "Events dead-lettered", ["service", "type"])
HANDLER_FAILURES = Counter(
    "events_handler_failures_total",
    "Failed attempts at applying an event, by kind (transient: infrastructure, "
    "retried; permanent: the event itself, dead-lettered after its attempts)",
    ["service", "type", "kind"],
)
RETRIES = Counter(
    "events_handler_retries_total", "Attempts after a failed one", ["service", "type", "kind"]
)
HANDLE_SECONDS = Histogram(
    "events_handle_duration_seconds",
    "Time from receiving an event to its outcome (retries included)",
    ["service", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
H = TypeVar("H", bound=Handler)


def failure_kind(exc: BaseException) -> str:
    """transient (infrastructure: a retry fixes it) or permanent."""
    from sqlalchemy import exc as sa_exc

    transient = (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError)
    return "transient" if isinstance(exc, transient) else "permanent"


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
        tracing: Tracing | None = None,
    ) -> None:
        self.db = db
        self.transport = transport
        self.handlers = handlers
        self.group = group
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.tracing = tracing or Tracing(group)

    def subscribe(self) -> None:
        if self.handlers.topics:
            self.transport.subscribe(self.group, self.handlers.topics, self.process)

    async def process(self, msg: Message) -> None:
        start = time.perf_counter()
        try:
            env = Envelope.from_message(msg)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(msg, exc, attempts=0)
            self._log(None, msg, "dead_lettered", start, 0, exc)
            return
        handler = self.handlers.get(env.type)
        if handler is None:
            return  # another consumer's event on a topic we read
        # Every line written while the event is handled carries its ids.
        outer = context.TraceContext(
            correlation_id=env.correlationid, causation_id=env.id, traceparent=env.traceparent
        )
        with context.use(outer):
            outcome, attempts, error = await self._handle(env, handler, msg)
            HANDLE_SECONDS.labels(self.group, env.type).observe(time.perf_counter() - start)
            self._log(env, msg, outcome, start, attempts, error)

    async def _handle(
        self, env: Envelope, handler: Handler, msg: Message
    ) -> tuple[str, int, BaseException | None]:
        """Apply the event; returns (outcome, attempts, last error)."""
        model = registry.model_for(env.type)
        try:
            payload = model.model_validate(env.data) if model else env.data
        except ValidationError as exc:
            HANDLER_FAILURES.labels(self.group, env.type, "permanent").inc()
            await self._dead_letter(msg, exc, attempts=0, event_type=env.type)
            return "dead_lettered", 0, exc
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if last is not None:
                RETRIES.labels(self.group, env.type, failure_kind(last)).inc()
            try:
                applied = await self._apply(env, payload, handler, msg.topic, attempt)
                return ("applied" if applied else "duplicate"), attempt, last
            except Exception as exc:
                last = exc
                HANDLER_FAILURES.labels(self.group, env.type, failure_kind(exc)).inc()
                log.warning(
                    "handler failed",
                    group=self.group,
                    type=env.type,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(self.backoff_seconds * attempt)
        assert last is not None
        await self._dead_letter(msg, last, attempts=self.max_attempts, event_type=env.type)
        return "dead_lettered", self.max_attempts, last

    def _log(
        self,
        env: Envelope | None,
        msg: Message,
        outcome: str,
        start: float,
        attempts: int,
        error: BaseException | None,
    ) -> None:
        """One line per handled event."""
        (log.info if outcome in ("applied", "duplicate") else log.error)(
            "event",
            service=self.group,
            type=env.type if env else None,
            event_id=env.id if env else None,
            group=self.group,
            topic=msg.topic,
            outcome=outcome,
            attempts=attempts,
            latency_ms=round((time.perf_counter() - start) * 1000, 2),
            **({"error": repr(error)[:500]} if error is not None else {}),
        )

    async def _apply(
        self, env: Envelope, payload: Any, handler: Handler, topic: str, attempt: int = 1
    ) -> bool:
        """One attempt, in its own span; False when the inbox says it was applied before."""
        with self.tracing.consumer_span(
            event_id=env.id,
            event_type=env.type,
            source=env.source,
            topic=topic,
            group=self.group,
            traceparent=env.traceparent,
            attempt=attempt,
        ) as span_traceparent:
            ctx = context.TraceContext(
                correlation_id=env.correlationid,
                causation_id=env.id,
                traceparent=span_traceparent or context.new_traceparent(env.traceparent),
            )
            with context.use(ctx):
                async with self.db.transaction() as s:
                    if not await record_in_inbox(s, self.group, env, topic):
                        DUPLICATES.labels(self.group).inc()
                        return False
                    await handler(s, payload, env)
        APPLIED.labels(self.group, env.type).inc()
        return True

    async def _dead_letter(
        self, msg: Message, exc: BaseException, *, attempts: int, event_type: str | None = None
    ) -> None:
        DEAD_LETTERED.labels(self.group, event_type or "unreadable").inc()
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
