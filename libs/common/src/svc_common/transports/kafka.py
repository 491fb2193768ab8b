"""Apache Kafka transport (aiokafka).

Producer: acks=all with idempotence, so retries neither lose nor duplicate nor
reorder within a partition. If publishing keeps failing or hangs (a broker
outage can leave a producer wedged), the producer is rebuilt.

Consumers: one per subscribed group, auto-commit off. A message's offset is
committed only after its handler's transaction committed. A rebalance
listener waits for the batch in hand to finish and commits before partitions
are given up. Messages are applied one at a time per partition, in order.
When applying a message fails on infrastructure (`TransientFailure`), its
partition is paused and rewound to it, and resumed after a capped, jittered
exponential back-off: the other partitions go on, this one keeps its order,
and the poll loop keeps the consumer in its group however long the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from prometheus_client import Gauge

from svc_common.events.envelope import Message
from svc_common.failures import TransientFailure
from svc_common.transports.base import DLQ_SUFFIX, ProcessFn, Transport
from svc_common.transports.kafka_client import discard_producer, paced

log = structlog.get_logger(__name__)

PUBLISH_TIMEOUT_SECONDS = 15.0
REQUEST_TIMEOUT_MS = 10_000
#: Consecutive failed batches after which the producer is thrown away and rebuilt.
REBUILD_AFTER_FAILURES = 2
#: Back-off of a partition paused on a transient failure: first and longest wait.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
#: A stopping consumer's bounds: committing what it applied, then leaving its
#: group; and a stopping producer's flush (then as long again to fail what it
#: still holds, if the broker does not answer).
COMMIT_ON_STOP_SECONDS = 5.0
LEAVE_GROUP_SECONDS = 10.0
PRODUCER_FLUSH_SECONDS = 10.0
PRODUCER_STOP_SECONDS = PRODUCER_FLUSH_SECONDS + REQUEST_TIMEOUT_MS / 1000

RETRYING = Gauge(
    "consumer_partition_retrying",
    "1 while a partition is paused, retrying a message after a transient failure",
    ["service", "group", "topic", "partition"],
)


def retry_delay(attempt: int, *, first: float = RETRY_FIRST_SECONDS) -> float:
    """Capped exponential back-off with full jitter's gentler cousin: the
    wait grows 2× per attempt up to the cap, then ±25 % so replicas spread."""
    base = min(RETRY_MAX_SECONDS, first * 2 ** min(attempt - 1, 16))
    return base * random.uniform(0.75, 1.25)


def record_message(r: ConsumerRecord[bytes, bytes]) -> Message:
    """A consumed record as a `Message`, whatever its bytes: a key that is
    not UTF-8 reads with U+FFFD and a header without a value as empty. A
    record is never refused here — one that cannot be read as an event is
    the consumer's to dead-letter — because an exception here took the
    whole consumer down, again at every restart, on every partition."""
    return Message(
        topic=r.topic,
        key=r.key.decode("utf-8", "replace") if r.key is not None else None,
        value=r.value or b"",
        headers=[(k, v if v is not None else b"") for k, v in (r.headers or [])],
        partition=r.partition,
        offset=r.offset,
    )


def _read_late(futures: list[asyncio.Future[object]], given_up: str) -> None:
    """Read, whenever they end, the deliveries of sends a publish stopped
    waiting for, and log them once all have ended. An exception set on a
    future no one reads is printed by asyncio, at collection, as "Future
    exception was never retrieved", which reads like a crash; a late
    delivery means the relay sends the message again (the consumers'
    inboxes drop the copy)."""
    for f in futures:
        if f.done() and not f.cancelled():
            f.exception()  # ended while a cancelled publish was not looking
    pending = [f for f in futures if not f.done()]
    if not pending:
        return
    left = len(pending)
    delivered = 0
    errors: list[BaseException] = []

    def ended(f: asyncio.Future[object]) -> None:
        nonlocal left, delivered
        left -= 1
        if not f.cancelled():
            exc = f.exception()
            if exc is None:
                delivered += 1
            else:
                errors.append(exc)
        if left == 0:
            log.warning(
                "Kafka sends no longer waited for have ended",
                given_up=given_up,
                messages=len(pending),
                delivered=delivered,
                failed=len(errors),
                error=repr(errors[0]) if errors else None,
            )

    for f in pending:
        f.add_done_callback(ended)


class _Subscription:
    def __init__(
        self, transport: KafkaTransport, group: str, topics: list[str], process: ProcessFn
    ):
        self.transport = transport
        self.group = group
        self.topics = topics
        self.process = process
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None
        # Held while a batch is being applied; the rebalance listener takes it
        # so partitions are handed over only between batches.
        self.batch_lock = asyncio.Lock()
        self.done: dict[TopicPartition, int] = {}
        #: Paused partitions: when to resume, and how many times in a row the
        #: message at their position failed.
        self.paused_until: dict[TopicPartition, float] = {}
        self.failures: dict[TopicPartition, int] = {}
        self.last_error: dict[TopicPartition, str] = {}

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the retry state of partitions this consumer no longer owns."""
        for tp in partitions:
            self.paused_until.pop(tp, None)
            self.failures.pop(tp, None)
            self.last_error.pop(tp, None)
            RETRYING.labels(self.group, self.group, tp.topic, str(tp.partition)).set(0)

    def retrying(self) -> dict[str, str]:
        """Partitions being retried, with the last error (for readiness)."""
        return {f"{tp.topic}[{tp.partition}]": err for tp, err in self.last_error.items()}

    async def commit_done(self) -> None:
        if self.consumer is None or not self.done:
            return
        offsets, self.done = dict(self.done), {}
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            # The effects are committed in the database and recorded in the inbox,
            # so a redelivery after a failed commit changes nothing.
            log.warning("offset commit failed", group=self.group, error=repr(exc))


class _DrainOnRevoke(ConsumerRebalanceListener):
    def __init__(self, sub: _Subscription) -> None:
        self.sub = sub

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.sub.batch_lock:
            await self.sub.commit_done()
            self.sub.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", group=self.sub.group, partitions=sorted(map(str, assigned)))


class KafkaTransport(Transport):
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        partitions: int = 3,
        replication: int = 1,
        publish_timeout: float = PUBLISH_TIMEOUT_SECONDS,
    ) -> None:
        self.bootstrap = bootstrap
        self.publish_timeout = publish_timeout
        #: How long a handed-over message may take to be acknowledged or
        #: failed: longer than the producer's own request timeout, so the
        #: producer, not this class, decides a message's fate.
        self.delivery_timeout = REQUEST_TIMEOUT_MS / 1000 * 2
        self.client_id = client_id
        self.partitions = partitions
        self.replication = replication
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._failures = 0
        self._subs: list[_Subscription] = []
        self._started = False

    def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            retry_backoff_ms=200,
        )
        # Without it a send waiting for a partition's leader while the broker
        # is away logs thousands of lines a second (`kafka_client`).
        paced(producer.client)
        return producer

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = self._new_producer()
                try:
                    # Started in an empty context: its background tasks (and
                    # their log lines) must not keep the ids of whichever
                    # request happened to need the producer first.
                    await asyncio.create_task(producer.start(), context=contextvars.Context())
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _rebuild_producer(
        self, failed: AIOKafkaProducer | None, *, flush_timeout: float
    ) -> None:
        """Throw away the producer `failed` (a broker outage can wedge it).
        Its stop flushes or fails what it holds, so nothing it had is
        delivered later behind the relay's back. Only that one: the relay
        and the dead-letter publish share the transport, and another caller
        may have rebuilt it already and be sending on the new one."""
        async with self._producer_lock:
            if failed is None or self._producer is not failed:
                return
            old, self._producer = self._producer, None
        if old is not None:
            log.warning("rebuilding Kafka producer after failures")
            await self._close_producer(old, flush_timeout=flush_timeout)

    async def _close_producer(self, producer: AIOKafkaProducer, *, flush_timeout: float) -> None:
        """Stop a producer: what it holds is delivered or failed within
        `flush_timeout`. One whose flush does not end (the broker still
        away) is brought down and its messages failed now: a producer left
        running delivered them after the relay was told they were not, or
        failed them into futures no one read ("Future exception was never
        retrieved ... LeaderNotAvailableError" after a broker restart)."""
        try:
            await asyncio.wait_for(producer.stop(), timeout=flush_timeout)
            return
        except Exception as exc:
            reason = repr(exc)
        try:
            held = await discard_producer(
                producer,
                KafkaTimeoutError("delivery not confirmed by the broker; producer discarded"),
                wait=REQUEST_TIMEOUT_MS / 1000,
            )
        except Exception:
            # It reads aiokafka's internals: were they to change, the relay
            # goes on as before (the old producer left to itself), said here.
            log.exception("Kafka producer could not be discarded; left to end by itself")
            return
        log.warning(
            "Kafka producer did not flush; its unconfirmed messages failed",
            messages=held,
            error=reason,
        )

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for sub in self._subs:
            sub.task = asyncio.create_task(self._consume(sub), name=f"consume-{sub.group}")

    async def stop_consuming(self, grace: float) -> None:
        """A graceful stop of every consumer: the batch in hand is applied
        and its offsets committed (waiting up to `grace` seconds for it),
        then the consumer leaves its group, so the replica taking over its
        partitions starts where this one ended. Cancelled mid-batch (before,
        on every stop), the messages it had applied went uncommitted and
        were delivered again to the next owner."""
        self._started = False
        for sub in self._subs:
            task, sub.task = sub.task, None
            if task is None:
                continue
            try:
                # Held between batches only: once taken, no batch is in hand.
                await asyncio.wait_for(sub.batch_lock.acquire(), timeout=grace)
            except TimeoutError:
                log.warning("consumer still applying a batch; stopped", group=sub.group)
                task.cancel()
            else:
                try:
                    task.cancel()  # in its poll, or waiting for the next batch's turn
                finally:
                    sub.batch_lock.release()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop(self) -> None:
        await self.stop_consuming(grace=0)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await self._close_producer(producer, flush_timeout=PRODUCER_FLUSH_SECONDS)

    def retrying(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for sub in self._subs:
            out.update({f"{sub.group}:{k}": v for k, v in sub.retrying().items()})
        return out

    async def ready(self) -> bool:
        try:
            producer = await asyncio.wait_for(self._ensure_producer(), timeout=5)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=5)
            return True
        except Exception:
            return False

    async def ensure_topics(self, topics: list[str]) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin"
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = [t for topic in topics for t in (topic, topic + DLQ_SUFFIX)]
            new = [
                NewTopic(
                    name=t, num_partitions=self.partitions, replication_factor=self.replication
                )
                for t in wanted
                if t not in existing
            ]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
        finally:
            await admin.close()

    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        """Publish in order; a message's result is known before this returns:
        none is abandoned while the producer may still deliver it (that
        would be re-sent later, a duplicate)."""
        if not messages:
            return []
        try:
            # A started producer is used as it is: `wait_for` runs its
            # awaitable as a task, a tenth of a millisecond each relay pass.
            producer: AIOKafkaProducer = self._producer or await asyncio.wait_for(
                self._ensure_producer(), timeout=self.publish_timeout
            )
        except Exception as exc:
            await self._count_failure(None, all_failed=True)
            return [exc] * len(messages)
        handed: list[asyncio.Future[object] | BaseException] = []
        try:
            for m in messages:
                try:
                    # Each send has its own deadline (it waits only when a
                    # partition's batch is full), and none runs as a task: with
                    # the topic's metadata known, `send` appends to a batch
                    # without yielding, so a pass's messages leave in one produce
                    # request instead of one round trip each (a task per send,
                    # as wait_for makes, lets the sender ship the first alone).
                    async with asyncio.timeout(self.publish_timeout):
                        handed.append(
                            await producer.send(
                                m.topic,
                                value=m.value,
                                key=m.key.encode() if m.key is not None else None,
                                headers=m.headers,
                            )
                        )
                except Exception as exc:
                    # Not handed to the producer, nor is anything after it (a
                    # later event of the same key must not overtake it).
                    handed.extend([exc] * (len(messages) - len(handed)))
                    break
            pending = [f for f in handed if isinstance(f, asyncio.Future)]
            if pending:
                _, unresolved = await asyncio.wait(pending, timeout=self.delivery_timeout)
                if unresolved:
                    # Stopping the producer flushes or fails every batch it holds.
                    await self._rebuild_producer(producer, flush_timeout=self.delivery_timeout)
                    await asyncio.wait(unresolved, timeout=1.0)
        except BaseException:
            # Cancelled (the relay stopping): what was handed over is still
            # delivered or failed by the producer, with no one waiting.
            _read_late([f for f in handed if isinstance(f, asyncio.Future)], "publish cancelled")
            raise
        results: list[BaseException | None] = []
        late: list[asyncio.Future[object]] = []
        for f in handed:
            if isinstance(f, BaseException):
                results.append(f)
            elif not f.done():
                # Still held by a producer that may deliver or fail it later:
                # that outcome is read and logged when it comes.
                late.append(f)
                results.append(TimeoutError("delivery not confirmed by the broker"))
            elif f.cancelled():
                results.append(asyncio.CancelledError("delivery cancelled"))
            else:
                results.append(f.exception())
        _read_late(late, "reported unconfirmed")
        await self._count_failure(producer, all_failed=all(r is not None for r in results))
        return results

    async def _count_failure(self, producer: AIOKafkaProducer | None, *, all_failed: bool) -> None:
        """Count a publish whose every message failed on `producer` (None:
        none could be had); enough in a row rebuild that producer."""
        if not all_failed:
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= REBUILD_AFTER_FAILURES:
            self._failures = 0
            await self._rebuild_producer(producer, flush_timeout=self.delivery_timeout)

    async def consumer_lag(self) -> dict[tuple[str, str, int], int]:
        """End offset minus committed offset of each partition assigned here.
        Asked of the broker (not the fetcher's cached high-water mark), so a
        paused or wedged partition's lag still grows as messages arrive."""
        lag: dict[tuple[str, str, int], int] = {}
        for sub in self._subs:
            consumer = sub.consumer
            if consumer is None:
                continue
            assigned = list(consumer.assignment())
            if not assigned:
                continue
            ends = await consumer.end_offsets(assigned)
            never: list[TopicPartition] = []
            for tp in assigned:
                committed = await consumer.committed(tp)
                if committed is None:
                    never.append(tp)
                else:
                    lag[(sub.group, tp.topic, tp.partition)] = max(0, ends[tp] - committed)
            if never:  # nothing committed yet: all that is on the partition is waiting
                starts = await consumer.beginning_offsets(never)
                for tp in never:
                    lag[(sub.group, tp.topic, tp.partition)] = max(0, ends[tp] - starts[tp])
        return lag

    def subscribe(self, group: str, topics: list[str], process: ProcessFn) -> None:
        sub = _Subscription(self, group, topics, process)
        self._subs.append(sub)
        if self._started:
            sub.task = asyncio.create_task(self._consume(sub), name=f"consume-{group}")

    async def _consume(self, sub: _Subscription) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=sub.group,
                client_id=f"{self.client_id}-{sub.group}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=200,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
                metadata_max_age_ms=5_000,
                # A failed fetch is retried after this; aiokafka's 100 ms
                # logs two lines a try per consumer while the broker is away.
                retry_backoff_ms=500,
            )
            paced(consumer._client)
            consumer.subscribe(sub.topics, listener=_DrainOnRevoke(sub))
            try:
                await consumer.start()
                sub.consumer = consumer
                await self._poll(sub, consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer failed; restarting", group=sub.group, error=repr(exc))
                await asyncio.sleep(1)
            finally:
                # What was applied is committed, however the loop ended (a
                # batch cut short included), before the group is left.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sub.commit_done(), timeout=COMMIT_ON_STOP_SECONDS)
                sub.consumer = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), timeout=LEAVE_GROUP_SECONDS)

    async def _poll(self, sub: _Subscription, consumer: AIOKafkaConsumer) -> None:
        while True:
            self._resume_due(sub, consumer)
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            if not batches:
                continue
            async with sub.batch_lock:
                for tp, records in batches.items():
                    if tp in sub.paused_until:
                        continue  # fetched before the pause; re-read after it
                    for r in records:
                        try:
                            await sub.process(record_message(r))
                        except TransientFailure as exc:
                            self._pause(sub, consumer, tp, r.offset, exc)
                            break
                        except Exception as exc:
                            # A bug in applying one message: that partition
                            # waits, with the error in /ready and the
                            # retrying gauge; the consumer and its other
                            # partitions go on (before, the consumer was
                            # restarted on it again and again, invisibly).
                            log.error(
                                "message could not be processed",
                                group=sub.group,
                                partition=str(tp),
                                offset=r.offset,
                                error=repr(exc)[:500],
                            )
                            self._pause(sub, consumer, tp, r.offset, exc)
                            break
                        sub.done[tp] = r.offset + 1
                        if tp in sub.failures:
                            sub.forget({tp})
                            log.info("partition recovered", group=sub.group, partition=str(tp))
                # Let tasks the handlers' commits woke (the outbox relay) send
                # their first statement before the offset commit goes out:
                # the relay is on the saga's path, the offset commit is not.
                await asyncio.sleep(0)
                await sub.commit_done()

    def _pause(
        self,
        sub: _Subscription,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        offset: int,
        exc: BaseException,
    ) -> None:
        """Rewind `tp` to the failed message and pause it for a back-off."""
        attempt = sub.failures.get(tp, 0) + 1
        delay = retry_delay(attempt)
        sub.failures[tp] = attempt
        sub.last_error[tp] = str(exc)[:500]
        sub.paused_until[tp] = time.monotonic() + delay
        consumer.seek(tp, offset)
        consumer.pause(tp)
        # `service` is the group (the service's name), not the client id:
        # that is the pod's name, and figures are filtered and summed by service.
        RETRYING.labels(sub.group, sub.group, tp.topic, str(tp.partition)).set(1)
        log.warning(
            "partition paused after a transient failure; will retry",
            group=sub.group,
            partition=str(tp),
            offset=offset,
            attempt=attempt,
            retry_in_s=round(delay, 2),
            error=str(exc)[:500],
        )

    @staticmethod
    def _resume_due(sub: _Subscription, consumer: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        due = [tp for tp, at in sub.paused_until.items() if at <= now]
        for tp in due:
            del sub.paused_until[tp]
            if tp in consumer.assignment():
                consumer.resume(tp)
