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
import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from svc_common import context
from svc_common.db import Database, DriverStatement, NeedsSession, dialect_insert
from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import EventPayload, registry
from svc_common.failures import PermanentFailure, TransientFailure, is_transient
from svc_common.held_chain import HeldChain
from svc_common.readable import header_shown
from svc_common.tables import DeadLetter, InboxRow
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
FAILURES = Counter(
    "events_handler_failures_total",
    "Failed attempts at applying an event, by kind (transient: infrastructure, "
    "retried in order until it answers; permanent: dead-lettered after its attempts)",
    ["service", "type", "kind"],
)
RETRIES = Counter(
    "events_handler_retries_total",
    "Attempts due after a failed one, by the kind of the failure",
    ["service", "type", "kind"],
)
SESSION_FALLBACKS = Counter(
    "events_handler_session_fallbacks_total",
    "Events whose handler, registered to run on the driver, needed a session:"
    " undone and run again in one",
    ["service", "type"],
)
HANDLE_SECONDS = Histogram(
    "events_handle_duration_seconds",
    "Time from receiving an event to its outcome (in-process retries included)",
    ["service", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
H = TypeVar("H", bound=Handler)


class EventHandlers:
    """What a service handles: `@handlers.on(FilingAccepted)` on an async
    function `(session, payload, envelope)`.

    `on(..., on_driver=True)`: on PostgreSQL on asyncpg the handler runs in
    a `DriverUnit` (its inbox row and its statements on asyncpg itself, no
    SQLAlchemy session: for a handler on the saga's path whose usual path
    is `DriverStatement`s and `svc_common.writes`). If it reaches for
    anything else (NeedsSession) its transaction is undone and it runs
    again in a session, as every other handler does."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}
        self._on_driver: set[str] = set()

    def on(self, *payload_types: type[EventPayload], on_driver: bool = False) -> Callable[[H], H]:
        def decorate(fn: H) -> H:
            for t in payload_types:
                self._by_type[t.event_type] = fn
                if on_driver:
                    self._on_driver.add(t.event_type)
                else:
                    self._on_driver.discard(t.event_type)
            return fn

        return decorate

    def runs_on_driver(self, event_type: str) -> bool:
        return event_type in self._on_driver

    def event_types(self) -> list[str]:
        """The event types handled here."""
        return sorted(self._by_type)

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


#: The inbox row's INSERT … ON CONFLICT DO NOTHING, built once per dialect on
#: the table (not the ORM entity): it runs once per event, and building and
#: coercing a fresh statement each time cost more CPU than the handlers.
_INBOX = cast(Table, InboxRow.__table__)
_INBOX_INSERT_SQLITE = sqlite.insert(_INBOX).on_conflict_do_nothing()
#: PostgreSQL: on asyncpg itself (`DriverStatement.fetch_in`), a row back if inserted.
_INBOX_INSERT_PG = DriverStatement(
    postgresql.insert(_INBOX).on_conflict_do_nothing().returning(_INBOX.c.event_id)
)


async def record_in_inbox(s: AsyncSession, group: str, env: Envelope, topic: str) -> bool:
    """Insert the inbox row; False if this group already applied the event."""
    values = {
        "consumer_group": group,
        "event_id": env.id,
        "event_type": env.type,
        "source_topic": topic,
        "processed_at": utcnow(),
    }
    conn = await s.connection()
    if conn.dialect.name == "postgresql":
        return bool(await _INBOX_INSERT_PG.fetch_in(conn, values))
    result = await s.execute(_INBOX_INSERT_SQLITE, values)
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
        chain_idle_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self.transport = transport
        self.handlers = handlers
        self.group = group
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.tracing = tracing or Tracing(group)
        #: The transactions of the handlers on the driver, one after another:
        #: each commit begins the next message's (`HeldChain`).
        self._units = HeldChain(db, idle_seconds=chain_idle_seconds)

    def subscribe(self) -> None:
        if self.handlers.topics:
            self.transport.subscribe(self.group, self.handlers.topics, self.process)

    async def process(self, msg: Message) -> None:
        """Apply one message: returns once it is applied, skipped or
        dead-lettered; raises `TransientFailure` when infrastructure failed,
        so the transport retries this message later, in order. Every line
        logged meanwhile carries the event's correlation id, and one line
        says how it ended."""
        start = time.perf_counter()
        event_type = msg.header("ce_type")
        outer = context.TraceContext(
            correlation_id=context.safe_id(msg.header("ce_correlationid")),
            causation_id=msg.header("ce_id"),
            traceparent=msg.header("ce_traceparent"),
        )
        with context.use(outer):
            try:
                outcome = await self._process(msg)
                if outcome.error is not None:
                    await self._dead_letter(msg, outcome.error, attempts=outcome.attempts)
            except TransientFailure as exc:
                self._log(msg, event_type, "retrying", start, 0, exc)
                raise
            if outcome.result == "skipped":
                return
            HANDLE_SECONDS.labels(self.group, event_type or "unreadable").observe(
                time.perf_counter() - start
            )
            result = "dead_lettered" if outcome.error is not None else outcome.result
            self._log(msg, event_type, result, start, outcome.attempts, outcome.error)

    def _log(
        self,
        msg: Message,
        event_type: str | None,
        outcome: str,
        start: float,
        attempts: int,
        error: BaseException | None,
    ) -> None:
        """One line per handled event."""
        (log.info if outcome in ("applied", "duplicate") else log.warning)(
            "event",
            service=self.group,
            group=self.group,
            type=event_type,
            event_id=msg.header("ce_id"),
            topic=msg.topic,
            outcome=outcome,
            attempts=attempts,
            latency_ms=round((time.perf_counter() - start) * 1000, 2),
            **({"error": repr(error)[:500]} if error is not None else {}),
        )

    async def _process(self, msg: Message) -> _Outcome:
        # Reading a message touches no infrastructure: whatever fails here
        # (bytes that are not UTF-8, JSON nested past the parser's depth, a
        # payload failing its schema) is the message's own, and permanent.
        try:
            env = Envelope.from_message(msg)
        except Exception as exc:
            return _Outcome(error=exc)
        handler = self.handlers.get(env.type)
        if handler is None:
            return _Outcome(result="skipped")  # another consumer's event on a topic we read
        model = registry.model_for(env.type)
        try:
            payload = model.model_validate(env.data) if model else env.data
        except Exception as exc:
            return _Outcome(error=exc)
        attempt = 0
        while True:
            attempt += 1
            try:
                applied = await self._apply(env, payload, handler, msg.topic, attempt)
                return _Outcome(attempts=attempt, result="applied" if applied else "duplicate")
            except Exception as exc:
                if is_transient(exc):
                    FAILURES.labels(self.group, env.type, "transient").inc()
                    RETRIES.labels(self.group, env.type, "transient").inc()
                    log.warning(
                        "handler failed on infrastructure; will retry",
                        group=self.group,
                        type=env.type,
                        error=repr(exc),
                    )
                    raise TransientFailure(repr(exc)) from exc
                FAILURES.labels(self.group, env.type, "permanent").inc()
                log.warning(
                    "handler failed",
                    group=self.group,
                    type=env.type,
                    attempt=attempt,
                    error=repr(exc),
                )
                if isinstance(exc, PermanentFailure) or attempt >= self.max_attempts:
                    return _Outcome(error=exc, attempts=attempt)
                RETRIES.labels(self.group, env.type, "permanent").inc()
                await asyncio.sleep(self.backoff_seconds * attempt)

    async def _apply(
        self, env: Envelope, payload: Any, handler: Handler, topic: str, attempt: int = 1
    ) -> bool:
        """One attempt, in its own span; False when the inbox says it was
        applied before."""
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
                applied: bool | None = None
                if self.db.on_asyncpg and self.handlers.runs_on_driver(env.type):
                    try:
                        applied = await self._apply_on_driver(env, payload, handler, topic)
                    except NeedsSession:  # again, in a session
                        SESSION_FALLBACKS.labels(self.group, env.type).inc()
                if applied is None:
                    async with self.db.transaction() as s:
                        applied = await self._apply_in(s, env, payload, handler, topic)
        if applied:
            APPLIED.labels(self.group, env.type).inc()
        else:
            DUPLICATES.labels(self.group).inc()
        return applied

    async def _apply_in(
        self, s: AsyncSession, env: Envelope, payload: Any, handler: Handler, topic: str
    ) -> bool:
        if not await record_in_inbox(s, self.group, env, topic):
            return False
        await handler(s, payload, env)
        return True

    async def _apply_on_driver(
        self, env: Envelope, payload: Any, handler: Handler, topic: str
    ) -> bool:
        """The inbox row and the handler in a `DriverUnit` (see EventHandlers);
        raises NeedsSession, with nothing kept, if the handler needs a session."""
        async with self._units.unit() as unit:
            return await self._apply_in(cast(AsyncSession, unit), env, payload, handler, topic)

    async def close(self) -> None:
        """Give back the connection kept between messages (after the
        transport stopped delivering them)."""
        await self._units.close()

    async def _dead_letter(self, msg: Message, exc: BaseException, *, attempts: int) -> None:
        """Keep the message in `dead_letters` (both modes) and publish it to
        `<topic>.dlq`; if either fails the message is retried like any
        transient failure, and the row is written once.

        A copy of a message already dead (the same content under a new event
        id: a request asked again while unanswered, as eia-svc re-asks
        quota-svc every two minutes) is counted on that row, which takes the
        copy as its message, instead of adding a row per copy."""
        event_id = msg.header("ce_id")
        event_type = msg.header("ce_type")
        message_id = (event_id or hashlib.sha256(msg.topic.encode() + msg.value).hexdigest())[:64]
        error = repr(exc)[:4000]
        now = utcnow()
        kept = {
            "message_id": _storable(message_id, 64),
            "topic": _storable(msg.topic, 200),
            "partition": msg.partition,
            "offset": msg.offset,
            "key": _storable(msg.key, 200),
            # Its bytes, escaped, if they are not readable text (not U+FFFD).
            "event_type": _storable(header_shown(msg.headers, "ce_type"), 200),
            "headers": [
                [_storable(k, None), _storable(v.decode("utf-8", "replace"), None)]
                for k, v in msg.headers
            ],
            "value": _storable(msg.value.decode("utf-8", "replace"), None),
            "error": _storable(error, None),
            "last_seen_at": now,
        }
        digest = content_digest(msg, event_type)
        try:
            async with self.db.transaction() as s:
                await self._keep_dead_letter(s, kept, digest, attempts, now)
        except Exception as db_exc:
            raise TransientFailure(f"could not keep the dead letter: {db_exc!r}") from db_exc
        headers = [
            *msg.headers,
            ("dlq_error", error.encode()),
            ("dlq_group", self.group.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_original_topic", msg.topic.encode()),
            ("dlq_original_partition", str(msg.partition).encode()),
            ("dlq_original_offset", str(msg.offset).encode()),
        ]
        dlq = Message(topic=msg.topic + DLQ_SUFFIX, key=msg.key, value=msg.value, headers=headers)
        (result,) = await self.transport.publish_batch([dlq])
        if result is not None:
            raise TransientFailure(f"could not publish to {dlq.topic}: {result!r}") from result
        DEAD_LETTERED.labels(self.group, event_type or "unreadable").inc()
        log.error(
            "dead-lettered message",
            group=self.group,
            topic=msg.topic,
            type=event_type,
            event_id=event_id,
            error=error,
        )

    async def _keep_dead_letter(
        self,
        s: AsyncSession,
        kept: dict[str, Any],
        digest: str,
        attempts: int,
        now: dt.datetime,
    ) -> None:
        """Insert the dead letter, or count it on its content's dead row."""
        group = self.group
        seen = await s.scalar(
            select(DeadLetter.id).where(
                DeadLetter.consumer_group == group, DeadLetter.message_id == kept["message_id"]
            )
        )
        if seen is not None:
            return  # this very message, kept before its publishing failed
        row = await s.scalar(
            select(DeadLetter)
            .where(
                DeadLetter.consumer_group == group,
                DeadLetter.content_digest == digest,
                DeadLetter.status == "dead",
            )
            .with_for_update()
        )
        if row is not None:
            for name, value in kept.items():
                setattr(row, name, value)
            row.occurrences += 1
            row.attempts += attempts
            return
        result = await s.execute(
            dialect_insert(s, DeadLetter)
            .values(
                consumer_group=group,
                content_digest=digest,
                attempts=attempts,
                occurrences=1,
                created_at=now,
                status="dead",
                **kept,
            )
            .on_conflict_do_nothing()
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            # A copy was kept by another consumer meanwhile: counted on it
            # when this message is retried.
            raise TransientFailure("a copy of the message was dead-lettered concurrently")

    async def redrive(self, dead_letter_id: int, actor: str) -> str:
        """Apply a dead letter again (its handler may have been fixed, or the
        data it needed now exists). Safe to repeat: the inbox makes a second
        application change nothing. Returns the dead letter's new status."""
        async with self.db.session() as s:
            row = await s.get(DeadLetter, dead_letter_id)
            if row is None or row.consumer_group != self.group:
                raise LookupError(dead_letter_id)
            msg = Message(
                topic=row.topic,
                key=row.key,
                value=row.value.encode(),
                headers=[(k, v.encode()) for k, v in row.headers],
                partition=row.partition,
                offset=row.offset,
            )
        outcome = await self._process(msg)
        if outcome.result == "skipped":
            # Nothing was applied: a type this group does not handle (or a
            # stored copy that reads differently from the original bytes).
            # Calling that re-driven would tell the operator it was.
            outcome.error = LookupError(
                f"{self.group} has no handler for event type {msg.header('ce_type')!r}"
            )
        async with self.db.transaction() as s:
            row = await s.get(DeadLetter, dead_letter_id, with_for_update=True)
            assert row is not None
            if outcome.error is None:
                row.status, row.resolved_at, row.resolved_by = "redriven", utcnow(), actor
            else:
                row.error = repr(outcome.error)[:4000]
                row.attempts += outcome.attempts
            return row.status


def content_digest(msg: Message, event_type: str | None) -> str:
    """What makes dead-lettered messages copies of one: the same topic, event
    type, key and payload (the envelope's id and time differ)."""
    h = hashlib.sha256()
    for part in (msg.topic.encode(), (event_type or "").encode(), (msg.key or "").encode()):
        h.update(part)
        h.update(b"\0")
    h.update(msg.value)
    return h.hexdigest()


@overload
def _storable(text: str, limit: int | None) -> str: ...
@overload
def _storable(text: str | None, limit: int | None) -> str | None: ...
def _storable(text: str | None, limit: int | None) -> str | None:
    """Text a dead letter's row can hold whatever the message carried: no
    NUL (PostgreSQL's text and jsonb refuse it) and no more characters than
    its column. A message that cannot be kept cannot be dead-lettered, and
    was retried for ever, holding back its partition."""
    if text is None:
        return None
    text = text.replace("\x00", "\ufffd")
    return text if limit is None else text[:limit]


@dataclass
class _Outcome:
    """How processing a message ended: applied or skipped (no error), or
    failed for good (error, to be dead-lettered)."""

    error: BaseException | None = None
    attempts: int = 0
    #: applied, duplicate (the inbox had it) or skipped (not ours to handle)
    result: str = "applied"
