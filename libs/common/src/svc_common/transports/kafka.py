"""Apache Kafka transport (aiokafka).

Producer: acks=all with idempotence, so retries neither lose nor duplicate nor
reorder within a partition. If publishing keeps failing or hangs (a broker
outage can leave a producer wedged), the producer is rebuilt.

Consumers: one per subscribed group, auto-commit off. A message's offset is
committed only after its handler's transaction committed. A rebalance
listener waits for the batch in hand to finish and commits before partitions
are given up. Messages are applied one at a time per partition, in order.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from svc_common.events.envelope import Message
from svc_common.transports.base import DLQ_SUFFIX, ProcessFn, Transport

log = structlog.get_logger(__name__)

PUBLISH_TIMEOUT_SECONDS = 15.0
#: Consecutive failed batches after which the producer is thrown away and rebuilt.
REBUILD_AFTER_FAILURES = 2


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
        self.client_id = client_id
        self.partitions = partitions
        self.replication = replication
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._failures = 0
        self._subs: list[_Subscription] = []
        self._started = False

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
        )

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = self._new_producer()
                try:
                    await producer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _rebuild_producer(self) -> None:
        async with self._producer_lock:
            old, self._producer = self._producer, None
        if old is not None:
            log.warning("rebuilding Kafka producer after repeated failures")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.stop(), timeout=5)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for sub in self._subs:
            sub.task = asyncio.create_task(self._consume(sub), name=f"consume-{sub.group}")

    async def stop(self) -> None:
        self._started = False
        for sub in self._subs:
            if sub.task is not None:
                sub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sub.task
                sub.task = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout=10)
            self._producer = None

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
        try:
            producer = await asyncio.wait_for(self._ensure_producer(), timeout=self.publish_timeout)
            results = await asyncio.wait_for(
                self._send_all(producer, messages), timeout=self.publish_timeout
            )
        except Exception as exc:
            results = [exc] * len(messages)
        if messages and all(r is not None for r in results):
            self._failures += 1
            if self._failures >= REBUILD_AFTER_FAILURES:
                self._failures = 0
                await self._rebuild_producer()
        else:
            self._failures = 0
        return results

    @staticmethod
    async def _send_all(
        producer: AIOKafkaProducer, messages: list[Message]
    ) -> list[BaseException | None]:
        futures = []
        for m in messages:
            futures.append(
                await producer.send(
                    m.topic,
                    value=m.value,
                    key=m.key.encode() if m.key is not None else None,
                    headers=m.headers,
                )
            )
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        return [o if isinstance(o, BaseException) else None for o in outcomes]

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
            )
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
                sub.consumer = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), timeout=10)

    @staticmethod
    async def _poll(sub: _Subscription, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            if not batches:
                continue
            async with sub.batch_lock:
                for tp, records in batches.items():
                    for r in records:
                        await sub.process(
                            Message(
                                topic=r.topic,
                                key=r.key.decode() if r.key is not None else None,
                                value=r.value or b"",
                                headers=[(k, v) for k, v in (r.headers or [])],
                                partition=r.partition,
                                offset=r.offset,
                            )
                        )
                        sub.done[tp] = r.offset + 1
                await sub.commit_done()
